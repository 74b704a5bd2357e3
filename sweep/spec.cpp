#include "sweep/spec.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "util/error.hpp"

namespace lpt {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

const char* kTopKeys[] = {"description", "base", "set", "axes", "names", "out", "jobs", "mpi",
                          "sizes"};
// What a size may give: it is laid over the spec (set merged key by key, the others replaced).
const char* kSizeKeys[] = {"description", "base", "set", "axes", "out", "jobs", "mpi"};

// ordered_json keeps the order keys were written in (a grid's first key is its outermost loop);
// the values themselves are handed on as plain json.
json plain(const ojson& v) { return json::parse(v.dump()); }

void check_key(const std::string& src, const std::string& where, const std::string& key) {
  require(!key.empty() && key.find('=') == std::string::npos, src, ": ", where, ": '", key,
          "' is not a config key (a dotted path such as train.lr)");
  require(key != "output.file" && key != "output.checkpoint" && key != "output",
          src, ": ", where, ": ", key, " cannot be an axis or a set; the sweep names every "
          "point's record and checkpoint itself (DIR/NAME.h5, DIR/NAME.ckpt.h5 when the base "
          "config checkpoints; \"set\": {\"output.checkpoint\": \"\"} turns checkpoints off)");
}

std::vector<json> value_list(const std::string& src, const std::string& where, const ojson& v) {
  require(v.is_array() && !v.empty(), src, ": ", where, ": expected a non-empty list of values, "
          "got ", v.dump());
  std::vector<json> out;
  for (const auto& x : v) {
    require(!x.is_null(), src, ": ", where, ": null is not a value");
    out.push_back(plain(x));
  }
  return out;
}

SweepBlock parse_block(const std::string& src, std::size_t index, const ojson& b) {
  const std::string where = "axes[" + std::to_string(index) + "]";
  require(b.is_object() && b.size() == 1, src, ": ", where, ": expected one of {\"grid\": {...}}, "
          "{\"zip\": {...}} or {\"points\": [...]}, got ", b.dump());
  SweepBlock blk;
  blk.kind = b.begin().key();
  const ojson& body = b.begin().value();
  if (blk.kind == "grid" || blk.kind == "zip") {
    require(body.is_object() && !body.empty(), src, ": ", where, ".", blk.kind,
            ": expected an object {\"key\": [values, ...], ...}");
    std::vector<std::vector<json>> lists;
    for (auto it = body.begin(); it != body.end(); ++it) {
      check_key(src, where + "." + blk.kind, it.key());
      blk.keys.push_back(it.key());
      lists.push_back(value_list(src, where + "." + blk.kind + "." + it.key(), it.value()));
    }
    if (blk.kind == "zip") {
      for (std::size_t k = 1; k < lists.size(); ++k)
        require(lists[k].size() == lists[0].size(), src, ": ", where, ".zip: ", blk.keys[k],
                " has ", lists[k].size(), " values but ", blk.keys[0], " has ",
                lists[0].size(), "; zip pairs the i-th values, so the lists must be equally long");
      for (std::size_t i = 0; i < lists[0].size(); ++i) {
        std::vector<json> row;
        for (const auto& l : lists) row.push_back(l[i]);
        blk.rows.push_back(row);
      }
    } else {
      // Product, first key outermost: an odometer whose last digit turns fastest.
      std::vector<std::size_t> at(lists.size(), 0);
      while (true) {
        std::vector<json> row;
        for (std::size_t k = 0; k < lists.size(); ++k) row.push_back(lists[k][at[k]]);
        blk.rows.push_back(row);
        std::size_t k = lists.size();
        while (k > 0 && ++at[k - 1] == lists[k - 1].size()) at[--k] = 0;
        if (k == 0) break;
      }
    }
  } else if (blk.kind == "points") {
    require(body.is_array() && !body.empty(), src, ": ", where,
            ".points: expected a non-empty list of objects {\"key\": value, ...}");
    for (std::size_t i = 0; i < body.size(); ++i) {
      const ojson& p = body[i];
      const std::string pw = where + ".points[" + std::to_string(i) + "]";
      require(p.is_object() && !p.empty(), src, ": ", pw, ": expected an object {\"key\": value}");
      for (auto it = p.begin(); it != p.end(); ++it) {
        check_key(src, pw, it.key());
        require(!it.value().is_null(), src, ": ", pw, ".", it.key(), ": null is not a value");
        if (std::find(blk.keys.begin(), blk.keys.end(), it.key()) == blk.keys.end())
          blk.keys.push_back(it.key());
      }
    }
    for (const ojson& p : body) {
      std::vector<json> row;
      for (const std::string& k : blk.keys) row.push_back(p.contains(k) ? plain(p.at(k)) : json());
      blk.rows.push_back(row);
    }
  } else {
    fail(src, ": ", where, ": unknown block '", blk.kind, "'; use grid, zip or points");
  }
  return blk;
}

int positive_int(const std::string& src, const char* key, const ojson& v, int hi) {
  require(v.is_number_integer() && v.get<long long>() >= 1 && v.get<long long>() <= hi, src,
          ": ", key, ": expected an integer in [1, ", hi, "], got ", v.dump());
  return v.get<int>();
}

// Short names: the last component of each key, or more components where two keys would share it.
std::map<std::string, std::string> short_names(const SweepSpec& spec,
                                               const std::vector<std::string>& keys) {
  std::map<std::string, std::string> out;
  for (const std::string& k : keys) {
    auto it = spec.names.find(k);
    if (it != spec.names.end()) {
      out[k] = it->second;
      continue;
    }
    for (std::size_t parts = 1;; ++parts) {
      auto tail = [&](const std::string& key) {
        std::size_t pos = key.size();
        for (std::size_t i = 0; i < parts && pos != std::string::npos && pos > 0; ++i)
          pos = key.rfind('.', pos - 1);
        return pos == std::string::npos ? key : key.substr(pos + 1);
      };
      const std::string mine = tail(k);
      bool clash = false;
      for (const std::string& o : keys)
        if (o != k && spec.names.find(o) == spec.names.end() && tail(o) == mine) clash = true;
      if (!clash || mine == k) {
        out[k] = mine;
        break;
      }
    }
  }
  return out;
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '+' || c == '-';
    out += ok ? c : '-';
  }
  return out;
}

// A name too long for a file (255 bytes with ".ckpt.h5") keeps its start and a hash of the rest.
std::string bounded(const std::string& name) {
  if (name.size() <= 200) return name;
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return name.substr(0, 180) + "_" + hex;
}

// The spec with size `size` laid over it ("sizes" removed): one recipe, several scales.
ojson apply_size(const std::string& src, ojson j, const std::string& size) {
  if (!j.contains("sizes")) {
    require(size.empty(), src, ": --size ", size, ": this spec has no \"sizes\"; drop --size");
    return j;
  }
  const ojson sizes = j["sizes"];
  require(sizes.is_object() && !sizes.empty(), src, ": sizes: expected an object {\"name\": "
          "{\"set\": {...}, ...}, ...}");
  std::string names;
  for (auto it = sizes.begin(); it != sizes.end(); ++it) names += (names.empty() ? "" : ", ") + it.key();
  require(!size.empty(), src, ": the spec has sizes (", names, "); pick one with --size NAME");
  require(sizes.contains(size), src, ": no size '", size, "'; the spec has ", names);
  // A copy: writing into j below may move the storage of its (ordered) members.
  const ojson over = sizes[size];
  require(over.is_object(), src, ": sizes.", size, ": expected an object");
  for (auto it = over.begin(); it != over.end(); ++it)
    require(std::find(std::begin(kSizeKeys), std::end(kSizeKeys), it.key()) != std::end(kSizeKeys),
            src, ": sizes.", size, ": unknown key '", it.key(), "'; a size has description, base, "
            "set, axes, out, jobs, mpi");
  const bool own_out = over.contains("out");
  for (auto it = over.begin(); it != over.end(); ++it) {
    if (it.key() == "set" && j.contains("set")) {
      require(it.value().is_object(), src, ": sizes.", size, ".set: expected an object");
      for (auto kv = it.value().begin(); kv != it.value().end(); ++kv) j["set"][kv.key()] = kv.value();
    } else {
      j[it.key()] = it.value();
    }
  }
  // Sizes of one spec must not share an output directory: their records differ in config.
  if (!own_out && j.contains("out") && j["out"].is_string())
    j["out"] = j["out"].get<std::string>() + "/" + size;
  j.erase("sizes");
  j["size"] = size;
  return j;
}

}  // namespace

SweepSpec parse_sweep_spec(const std::string& text, const std::string& source,
                           const std::string& size) {
  const std::string src = source.empty() ? "sweep spec" : source;
  ojson j;
  try {
    j = ojson::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const ojson::exception& e) {
    fail(src, ": not valid JSON (", e.what(), ")");
  }
  require(j.is_object(), src, ": expected a JSON object with \"axes\" (docs/sweep.md)");
  for (auto it = j.begin(); it != j.end(); ++it)
    require(std::find(std::begin(kTopKeys), std::end(kTopKeys), it.key()) != std::end(kTopKeys),
            src, ": unknown key '", it.key(), "'; a spec has description, base, set, axes, names, "
            "out, jobs, mpi, sizes (docs/sweep.md)");
  j = apply_size(src, std::move(j), size);
  SweepSpec s;
  s.source = source;
  s.size = size;
  s.raw = plain(j);
  if (j.contains("description")) {
    require(j["description"].is_string(), src, ": description: expected a string");
    s.description = j["description"].get<std::string>();
  }
  if (j.contains("base")) {
    require(j["base"].is_string(), src, ": base: expected the path of a config file (or leave "
            "it out for the built-in defaults)");
    s.base = j["base"].get<std::string>();
  }
  if (j.contains("set")) {
    require(j["set"].is_object(), src, ": set: expected an object {\"key\": value, ...}");
    for (auto it = j["set"].begin(); it != j["set"].end(); ++it) {
      // Checkpoints may be turned off for every point; where they go is the sweep's choice.
      if (it.key() == "output.checkpoint" && it.value() == "") {
        s.set.emplace_back(it.key(), "");
        continue;
      }
      check_key(src, "set", it.key());
      s.set.emplace_back(it.key(), plain(it.value()));
    }
  }
  if (j.contains("axes")) {
    require(j["axes"].is_array(), src, ": axes: expected a list of blocks "
            "[{\"grid\": {...}}, {\"zip\": {...}}, {\"points\": [...]}]");
    for (std::size_t i = 0; i < j["axes"].size(); ++i)
      s.blocks.push_back(parse_block(src, i, j["axes"][i]));
  }
  std::set<std::string> seen;
  for (const SweepBlock& b : s.blocks)
    for (const std::string& k : b.keys) {
      require(seen.insert(k).second, src, ": ", k, " appears in two blocks of axes; give each "
              "key one block (zip keys that vary together)");
      for (const auto& [sk, sv] : s.set)
        require(sk != k, src, ": ", k, " is both in set and an axis; drop it from set");
    }
  if (j.contains("names")) {
    require(j["names"].is_object(), src, ": names: expected an object {\"axis key\": \"short\"}");
    for (auto it = j["names"].begin(); it != j["names"].end(); ++it) {
      require(seen.count(it.key()), src, ": names: ", it.key(), " is not an axis key");
      require(it.value().is_string() && !it.value().get<std::string>().empty() &&
                  sanitize(it.value().get<std::string>()) == it.value().get<std::string>(),
              src, ": names.", it.key(), ": expected a short name of letters, digits, '.', '+' "
              "or '-'");
      s.names[it.key()] = it.value().get<std::string>();
    }
  }
  if (j.contains("out")) {
    require(j["out"].is_string() && !j["out"].get<std::string>().empty(), src,
            ": out: expected a directory path");
    s.out = j["out"].get<std::string>();
  }
  if (j.contains("jobs")) s.jobs = positive_int(src, "jobs", j["jobs"], 4096);
  if (j.contains("mpi")) s.mpi = positive_int(src, "mpi", j["mpi"], 65536);
  return s;
}

SweepSpec load_sweep_spec(const std::string& file, const std::string& size) {
  std::ifstream in(file, std::ios::binary);
  require(in.good(), "cannot read sweep spec '", file, "'; check the path");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_sweep_spec(text.str(), file, size);
}

std::vector<std::string> sweep_axis_keys(const SweepSpec& spec) {
  std::vector<std::string> keys;
  for (const SweepBlock& b : spec.blocks) keys.insert(keys.end(), b.keys.begin(), b.keys.end());
  return keys;
}

std::string value_label(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

std::string set_text(const std::string& key, const nlohmann::json& value) {
  // `--set` parses its value as JSON and falls back to the plain text: a string that is not JSON
  // text by itself goes bare (solver.mode=serial), others quoted ("1e-3" stays a string).
  if (value.is_string() && !json::accept(value.get<std::string>()))
    return key + "=" + value.get<std::string>();
  return key + "=" + value.dump();
}

std::vector<SweepPoint> expand_sweep(const SweepSpec& spec) {
  const std::vector<std::string> keys = sweep_axis_keys(spec);
  const auto shorts = short_names(spec, keys);
  std::vector<SweepPoint> points(1);
  for (const SweepBlock& b : spec.blocks) {
    std::vector<SweepPoint> next;
    for (const SweepPoint& p : points)
      for (const auto& row : b.rows) {
        SweepPoint q = p;
        for (std::size_t k = 0; k < b.keys.size(); ++k)
          if (!row[k].is_null()) q.values.emplace_back(b.keys[k], row[k]);
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < points.size(); ++i) {
    SweepPoint& p = points[i];
    std::string name;
    for (const auto& [k, v] : p.values)
      name += (name.empty() ? "" : "_") + shorts.at(k) + "=" + sanitize(value_label(v));
    p.name = bounded(name.empty() ? "base" : name);
    auto [it, fresh] = by_name.emplace(p.name, i);
    if (!fresh) {
      auto describe = [](const SweepPoint& x) {
        json o = json::object();
        for (const auto& [k, v] : x.values) o[k] = v;
        return o.dump();
      };
      fail(spec.source.empty() ? "sweep spec" : spec.source, ": points ", it->second, " ",
           describe(points[it->second]), " and ", i, " ", describe(p), " get the same name '",
           p.name, "'; give the axes distinct values or set \"names\"");
    }
  }
  return points;
}

std::string point_record(const std::string& dir, const SweepPoint& p) {
  return dir + "/" + p.name + ".h5";
}
std::string point_log(const std::string& dir, const SweepPoint& p) {
  return dir + "/" + p.name + ".log";
}
std::string point_checkpoint(const std::string& dir, const SweepPoint& p) {
  return dir + "/" + p.name + ".ckpt.h5";
}

namespace {

std::vector<std::string> value_sets(const SweepSpec& spec, const SweepPoint& p) {
  std::vector<std::string> sets;
  for (const auto& [k, v] : spec.set) sets.push_back(set_text(k, v));
  for (const auto& [k, v] : p.values) sets.push_back(set_text(k, v));
  return sets;
}

RunConfig resolve_sets(const SweepSpec& spec, const std::vector<std::string>& sets) {
  return spec.base.empty() ? resolve_config(json::object(), sets) : load_config(spec.base, sets);
}

}  // namespace

std::vector<std::string> point_sets(const SweepSpec& spec, const SweepPoint& p,
                                    const std::string& dir) {
  std::vector<std::string> sets = value_sets(spec, p);
  const bool checkpoints = !resolve_sets(spec, sets).output.checkpoint.empty();
  sets.push_back(set_text("output.file", point_record(dir, p)));
  sets.push_back(set_text("output.checkpoint", checkpoints ? point_checkpoint(dir, p) : ""));
  return sets;
}

RunConfig resolve_point(const SweepSpec& spec, const SweepPoint& p, const std::string& dir) {
  try {
    return resolve_sets(spec, point_sets(spec, p, dir));
  } catch (const Error& e) {
    fail("sweep point ", p.name, ": ", e.what());
  }
}

}  // namespace lpt
