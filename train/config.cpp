// resolve_config: structure check (unknown keys), per-key type/range checks, family applicability,
// merge onto the defaults, typed fill, and the checks that involve several keys.
#include "train/config.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "train/config_schema.hpp"
#include "solver/grid.hpp"
#include "util/error.hpp"

namespace lpt {

using json = nlohmann::json;
using namespace config_detail;

const char* to_string(Schedule s) {
  switch (s) {
    case Schedule::constant: return "constant";
    case Schedule::cosine: return "cosine";
    case Schedule::linear: return "linear";
  }
  return "?";
}
const char* to_string(OptimizerKind o) { return o == OptimizerKind::adamw ? "adamw" : "sgd"; }
const char* to_string(MonitorPrecision p) {
  return p == MonitorPrecision::float32 ? "float32" : "float64";
}

namespace {

json::json_pointer pointer(const std::string& path) {
  std::string p = "/" + path;
  for (auto& c : p) {
    if (c == '.') c = '/';
  }
  return json::json_pointer(p);
}

// A user's value inside an error message: invalid UTF-8 replaced rather than thrown on, and long
// values cut so that a 100 kB string does not become a 100 kB message.
std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 200) s = s.substr(0, 200) + "... (" + std::to_string(s.size()) + " characters)";
  return s;
}

[[noreturn]] void unknown_key(const std::string& path) {
  fail(path, ": unknown key; did you mean ", nearest_key(path), "? (see docs/config.md)");
}

// Every leaf the user wrote, as (dotted path, value); sections must be objects.
void collect_leaves(const json& obj, const std::string& prefix,
                    std::vector<std::pair<std::string, json>>& out) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (find_key(path)) {
      out.emplace_back(path, it.value());
    } else if (is_section(path)) {
      require(it.value().is_object(), path, ": expected an object (a section of keys), got ",
              shown(it.value()));
      collect_leaves(it.value(), path, out);
    } else {
      unknown_key(path);
    }
  }
}

Family family_of(const json& v) { return parse_family(v.get<std::string>()); }

json at(const json& resolved, const std::string& path) { return resolved.at(pointer(path)); }

// Every key present in the resolved JSON goes to its field (the schema row says which); the step
// size is the one value made of two keys and the depth.
void fill(const json& r, RunConfig& c) {
  for (const auto& k : schema()) {
    const auto p = pointer(k.path);
    if (!k.store || !r.contains(p)) continue;
    k.store(r.at(p), c);
  }
  ModelSection& m = c.model;
  const json& h = at(r, "model.step_size");
  if (h.is_string()) m.T = at(r, "model.T").get<double>();
  m.step_size = h.is_string() ? h.get<std::string>() : h.dump();
  m.h = h.is_string() ? m.T / m.total_layers() : h.get<double>();
}

const char* data_kind_for(Family f) {
  switch (f) {
    case Family::gpt: return "english";
    case Family::bert: return "english (masked LM) or fortunes (classification)";
    case Family::mt: return "en_es";
    case Family::vit: return "fashion_mnist or digits";
  }
  return "?";
}

bool data_fits(Family f, const std::string& name) {
  if (f == Family::vit) return name == "fashion_mnist" || name == "digits";
  if (f == Family::bert) return name == "english" || name == "fortunes";
  return name == (f == Family::mt ? "en_es" : "english");
}

void check_model(const ModelSection& m, const std::string& data_name) {
  require(m.d_model % m.heads == 0, "model.heads: must divide model.d_model (", m.d_model,
          " % ", m.heads, " = ", m.d_model % m.heads, "); pick heads from the divisors of d_model");
  if (m.family == Family::vit) {
    require(m.image_h % m.patch == 0 && m.image_w % m.patch == 0, "model.patch: ", m.patch,
            " does not divide the image size ", m.image_h, "x", m.image_w);
    const std::array<int, 3> want = data_name == "digits" ? std::array<int, 3>{1, 8, 8}
                                                          : std::array<int, 3>{1, 28, 28};
    require(std::array<int, 3>{m.channels, m.image_h, m.image_w} == want, "model.image: data set ",
            data_name, " has images [", want[0], ", ", want[1], ", ", want[2], "], got [",
            m.channels, ", ", m.image_h, ", ", m.image_w, "]");
  }
  require(data_fits(m.family, data_name), "data.name: \"", data_name,
          "\" does not fit model.family \"", to_string(m.family), "\"; use ",
          data_kind_for(m.family));
}

// Coarse steps use one layer's parameters over `stride` fine steps; one that straddled the
// translation model's encoder/decoder boundary would apply an encoder layer to decoder time (the
// two halves of the stacked state evolve under different equations), so the boundary must be a
// C-point on every level: enc_layers divisible by the coarsest stride.
void check_mt_boundary(const RunConfig& c, const MgritConfig& m, const char* dir) {
  // The solver's own level hierarchy (one rank: the stride does not depend on the split).
  mgrit::CycleOptions o;
  o.set_max_levels(m.levels);
  o.set_cfactor(m.cfactor);
  const mgrit::Grid grid(c.model.total_layers(), o, 1);
  const long stride = grid.level(grid.levels() - 1).stride;
  require(c.model.enc_layers % stride == 0, "solver.mgrit.", dir, ": with levels ", m.levels,
          " and cfactor ", m.cfactor, " the coarsest level steps over ", stride,
          " layers, so a coarse step would straddle the encoder/decoder boundary at layer ",
          c.model.enc_layers, " (enc_layers must be a multiple of ", stride,
          "); choose model.enc_layers, cfactor or levels so that cfactor^(levels-1) divides "
          "enc_layers");
}

void check_solver(const RunConfig& c) {
  if (c.solver.mode == SolverMode::serial || c.solver.mode == SolverMode::pipeline) return;
  const bool fwd_mgrit = c.solver.mode != SolverMode::serial_forward;
  if (c.model.family == Family::mt) {
    if (fwd_mgrit) check_mt_boundary(c, c.solver.forward, "forward");
    check_mt_boundary(c, c.solver.backward, "backward");
  }
  require(c.solver.mode != SolverMode::adaptive || c.monitor.every > 0,
          "monitor.every: solver.mode \"adaptive\" decides from the measured gradient error, "
          "so monitor.every must be > 0 (e.g. 50)");
  require(c.control.alarm_growth == 0 || c.control.alarm_growth > 1,
          "control.alarm_growth: ", c.control.alarm_growth, " would check at every step (a "
          "residual is always at least its own size); use a factor > 1 (e.g. 10) or 0 for off");
  require(c.control.max_forward_iterations >= c.solver.forward.iterations,
          "control.max_forward_iterations (", c.control.max_forward_iterations,
          ") is below solver.mgrit.forward.iterations (", c.solver.forward.iterations,
          "); raise the cap or lower the start");
  require(c.control.max_backward_iterations >= c.solver.backward.iterations,
          "control.max_backward_iterations (", c.control.max_backward_iterations,
          ") is below solver.mgrit.backward.iterations (", c.solver.backward.iterations,
          "); raise the cap or lower the start");
}

// Each key is capped on its own (config_schema.cpp), but tensors are products of several: one
// activation or weight matrix past 2^31 - 1 elements would overflow the int sizes of the kernels
// long before memory runs out, so such shapes are refused here by name. (Whether the run fits in
// memory is the trainer's estimate; this is only about what can be indexed at all.)
void check_products(const RunConfig& c) {
  const ModelSection& m = c.model;
  const long long seq =
      m.family == Family::mt ? std::max(m.src_max_len, m.tgt_max_len)
      : m.family == Family::vit
          ? 1LL + (m.image_h / m.patch) * static_cast<long long>(m.image_w / m.patch)
          : m.max_len;
  const long long tokens = static_cast<long long>(c.train.batch) * seq;
  const long long limit = 2147483647LL;
  const struct {
    const char* what;
    long long n;
  } sizes[] = {
      {"model.d_model x model.d_ff (one MLP weight)", 1LL * m.d_model * m.d_ff},
      {"model.vocab x model.d_model (the embedding)", 1LL * m.vocab * m.d_model},
      {"train.batch x sequence length x model.d_ff (one MLP activation)", tokens * m.d_ff},
      {"train.batch x model.heads x sequence length^2 (the attention scores)",
       tokens * m.heads * seq},
  };
  for (const auto& s : sizes) {
    require(s.n <= limit, "model: ", s.what, " = ", s.n,
            " elements, more than one tensor can index (2147483647); lower those keys");
  }
}

void check_cross(const RunConfig& c) {
  check_model(c.model, c.data.name);
  // BPE is learned from the training pairs of the translation task; the GPT and BERT loaders
  // read byte or char streams only.
  require(c.data.tokenizer != "bpe" || c.model.family == Family::mt,
          "data.tokenizer: \"bpe\" is for translation (model.family \"mt\") only; use \"byte\" ",
          "or \"char\" for model.family \"", to_string(c.model.family), "\"");
  check_products(c);
  require(c.train.min_lr <= c.train.lr, "train.min_lr: ", c.train.min_lr,
          " exceeds train.lr (", c.train.lr, ")");
  require(c.train.batch % c.train.data_groups == 0, "train.batch: ", c.train.batch,
          " items do not split into train.data_groups = ", c.train.data_groups,
          " equal shares; choose a batch that is a multiple of ", c.train.data_groups);
  if (c.solver.mode == SolverMode::pipeline) {
    const int parts = c.train.data_groups * c.solver.micro_batches;
    require(c.train.batch % parts == 0, "train.batch: ", c.train.batch, " items do not split into ",
            c.train.data_groups, " data group(s) x solver.pipeline.micro_batches = ",
            c.solver.micro_batches, " equal micro-batches; choose a batch that is a multiple of ",
            parts);
  }
  check_solver(c);
}

// What to write instead of a key that belongs to another family.
std::string family_hint(const std::string& path, Family family) {
  if (family == Family::mt && path == "model.layers") return "use model.enc_layers and dec_layers";
  if (family == Family::mt && path == "model.seq_len") return "use model.src_len and tgt_len";
  if (family != Family::mt && path.find("_layers") != std::string::npos) return "use model.layers";
  if (family != Family::mt && (path == "model.src_len" || path == "model.tgt_len")) {
    return family == Family::vit ? "remove it" : "use model.seq_len";
  }
  return "remove it";
}

// The user's leaves, checked one by one against the table and the family.
void check_leaves(const std::vector<std::pair<std::string, json>>& leaves, Family family,
                  const json& user) {
  for (const auto& [path, v] : leaves) {
    const KeySpec* k = find_key(path);
    require(value_ok(*k, v), path, ": expected ", expectation(*k), ", got ", shown(v));
    require(k->families & family_bit(family), path, ": not used by model.family \"",
            to_string(family), "\" (it applies to ", family_list(k->families), "); ",
            family_hint(path, family));
  }
  const bool h_is_string = user.contains(pointer("model.step_size")) &&
                           user.at(pointer("model.step_size")).is_string();
  require(!user.contains(pointer("model.T")) || h_is_string,
          "model.T: only used when model.step_size is \"T/N\"; remove it or set step_size");
}

}  // namespace

json default_config(Family family) {
  json j = json::object();
  for (const auto& k : schema()) {
    if (k.families & family_bit(family)) j[pointer(k.path)] = k.def;
  }
  j["model"]["family"] = to_string(family);
  j["model"].erase("T");  // the default step size is a number, which T does not go with
  j["data"]["name"] = family == Family::mt ? "en_es"
                      : family == Family::vit ? "fashion_mnist"
                                              : "english";
  return j;
}

RunConfig resolve_config(const json& user_in, const std::vector<std::string>& sets) {
  require(user_in.is_object(), "config: expected a JSON object at the top level, got ",
          user_in.type_name());
  json user = user_in;
  for (const auto& s : sets) apply_set(user, s);

  std::vector<std::pair<std::string, json>> leaves;
  collect_leaves(user, "", leaves);
  Family family = Family::gpt;
  if (user.contains(pointer("model.family"))) {
    const json& f = user.at(pointer("model.family"));
    require(value_ok(*find_key("model.family"), f), "model.family: expected ",
            expectation(*find_key("model.family")), ", got ", shown(f));
    family = family_of(f);
  }
  check_leaves(leaves, family, user);

  RunConfig c;
  c.resolved = default_config(family);
  for (const auto& [path, v] : leaves) c.resolved[pointer(path)] = v;
  // model.T exists only beside step_size "T/N", so the resolved JSON reloads without complaint.
  json& model = c.resolved["model"];
  if (!model["step_size"].is_string()) {
    model.erase("T");
  } else if (!model.contains("T")) {
    model["T"] = find_key("model.T")->def;
  }
  fill(c.resolved, c);
  if (c.model.d_ff == 0) c.model.d_ff = 4 * c.model.d_model;
  c.resolved["model"]["d_ff"] = c.model.d_ff;
  check_cross(c);
  return c;
}

namespace {
// Throws (an lpt::Error, which the parser passes through) as soon as an object or array opens
// beyond the limit, so the deep value is never built.
json::parser_callback_t depth_limit(const std::string& source) {
  return [source](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth) {
      fail(source, ": JSON nested deeper than ", kMaxJsonDepth,
           " levels; a config is at most three levels deep, so this is not a config");
    }
    return true;
  };
}
}  // namespace

json parse_config_json(const std::string& text, const std::string& source) {
  const auto nul = text.find('\0');
  require(nul == std::string::npos, source, ": not valid JSON (a NUL byte at offset ", nul,
          "); the file is binary or truncated, rewrite it as plain JSON text");
  try {
    return json::parse(text, depth_limit(source), true, /*ignore_comments=*/true);
  } catch (const json::out_of_range& e) {
    fail(source, ": not valid JSON (", e.what(), "); write numbers within double's range");
  } catch (const json::exception& e) {
    fail(source, ": not valid JSON (", e.what(), ")");
  }
}

RunConfig load_config(const std::string& file, const std::vector<std::string>& sets) {
  std::error_code ec;
  require(!std::filesystem::is_directory(file, ec), "config file '", file,
          "' is a directory; give --config a JSON file");
  std::ifstream in(file, std::ios::binary);
  require(in.good(), "cannot read config file '", file, "'; check the path given to --config");
  std::ostringstream text;
  text << in.rdbuf();
  require(!in.bad(), "cannot read config file '", file, "'; check the path given to --config");
  const json user = parse_config_json(text.str(), file);
  try {
    return resolve_config(user, sets);
  } catch (const Error& e) {
    fail(file, ": ", e.what());
  }
}

void apply_set(json& user, const std::string& assignment) {
  const auto eq = assignment.find('=');
  require(eq != std::string::npos && eq > 0, "--set ", assignment,
          ": expected key=value, e.g. --set train.lr=1e-3");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  const KeySpec* k = find_key(key);
  if (!k && !is_section(key)) {
    fail("--set ", key, ": unknown key; did you mean ", nearest_key(key), "?");
  }
  // The value must be text a record can store: check its UTF-8 before anything dumps it.
  try {
    (void)json(text).dump();
  } catch (const json::type_error&) {
    fail("--set ", key, ": the value is not valid UTF-8; write it as UTF-8 text");
  }
  json v;
  try {
    v = json::parse(text, depth_limit("--set " + key));
  } catch (const json::out_of_range&) {
    fail("--set ", key, ": ", text, " is beyond double's range; write a finite number");
  } catch (const json::parse_error&) {
    v = text;
  }
  // A string key keeps the text as written: --set output.file=123 means the file "123".
  if (k && (k->kind == Kind::string || k->kind == Kind::choice) && !v.is_string()) v = text;
  require(user.is_object(), "config: expected a JSON object at the top level");
  const auto ptr = pointer(key);
  try {
    if (!k && v.is_object() && user.contains(ptr) && user.at(ptr).is_object()) {
      user.at(ptr).update(v);
    } else {
      user[ptr] = v;
    }
  } catch (const json::exception&) {
    fail("--set ", key, ": the config has a non-object value where a section of ", key,
         " should be; fix the config file");
  }
}

RunConfig config_from(const std::string& file, const std::vector<std::string>& sets) {
  return file.empty() ? resolve_config(json::object(), sets) : load_config(file, sets);
}

}  // namespace lpt
