#include "perfmodel/hardware.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.hpp"

namespace lpt::perf {

namespace {

using nlohmann::json;

// The figures of a profile, each key beside its field: the reader, the writer, the allowed keys
// and the list of sources required all come from these two tables.
struct Figure {
  const char* key;
  double HardwareProfile::*field;
  bool zero_ok;  // an overhead may be 0; a rate or capacity may not
};

const std::vector<Figure>& figures() {
  using H = HardwareProfile;
  static const std::vector<Figure> f = {
      {"gemm_flops_fp32", &H::gemm_flops_fp32, false},
      {"gemm_flops_bf16", &H::gemm_flops_bf16, false},
      {"vector_flops", &H::vector_flops, false},
      {"memory_bandwidth", &H::memory_bandwidth, false},
      {"memory_capacity", &H::memory_capacity, false},
      {"kernel_overhead_s", &H::kernel_overhead_s, true},
  };
  return f;
}

struct LinkFigure {
  const char* key;
  double Link::*field;
  bool zero_ok;
};

const std::vector<LinkFigure>& link_figures() {
  static const std::vector<LinkFigure> f = {{"latency_s", &Link::latency_s, true},
                                            {"bandwidth", &Link::bandwidth, false}};
  return f;
}

const std::vector<std::string>& number_keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v = {"ranks_per_node"};
    for (const auto& f : figures()) v.push_back(f.key);
    return v;
  }();
  return k;
}

const std::vector<std::string>& link_keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    for (const auto& f : link_figures()) v.push_back(f.key);
    return v;
  }();
  return k;
}

void check_keys(const json& j, const std::vector<std::string>& allowed, const std::string& where) {
  require(j.is_object(), where, ": expected a JSON object");
  for (const auto& [key, v] : j.items()) {
    (void)v;
    require(std::find(allowed.begin(), allowed.end(), key) != allowed.end(), where,
            ": unknown key '", key, "' (allowed keys are listed in docs/perfmodel.md §3)");
  }
  for (const auto& key : allowed)
    require(j.contains(key), where, ": missing key '", key, "'");
}

double positive(const json& j, const std::string& key, const std::string& where,
                bool zero_ok = false) {
  const json& v = j.at(key);
  require(v.is_number(), where, ": '", key, "' must be a number");
  const double x = v.get<double>();
  require(zero_ok ? x >= 0 : x > 0, where, ": '", key, "' must be ", zero_ok ? ">= 0" : "> 0",
          ", got ", x);
  return x;
}

std::string text(const json& j, const std::string& key, const std::string& where) {
  require(j.at(key).is_string(), where, ": '", key, "' must be a string");
  return j.at(key).get<std::string>();
}

Link parse_link(const json& j, const std::string& where) {
  check_keys(j, link_keys(), where);
  Link l;
  for (const auto& f : link_figures()) l.*f.field = positive(j, f.key, where, f.zero_ok);
  return l;
}

}  // namespace

HardwareProfile profile_from_json(const json& j, const std::string& where) {
  std::vector<std::string> top = {"name", "description", "kind", "intra_node", "inter_node",
                                  "sources"};
  top.insert(top.end(), number_keys().begin(), number_keys().end());
  check_keys(j, top, where);
  HardwareProfile p;
  p.name = text(j, "name", where);
  p.description = text(j, "description", where);
  p.kind = text(j, "kind", where);
  require(p.kind == "gpu" || p.kind == "cpu", where, ": 'kind' must be \"gpu\" or \"cpu\", got '",
          p.kind, "'");
  const double rpn = positive(j, "ranks_per_node", where);
  require(rpn == static_cast<int>(rpn), where, ": 'ranks_per_node' must be an integer");
  p.ranks_per_node = static_cast<int>(rpn);
  for (const auto& f : figures()) p.*f.field = positive(j, f.key, where, f.zero_ok);
  p.intra_node = parse_link(j.at("intra_node"), where + ": intra_node");
  p.inter_node = parse_link(j.at("inter_node"), where + ": inter_node");

  // Every figure carries its source; a source for a figure that does not exist is a typo.
  std::set<std::string> figures(number_keys().begin(), number_keys().end());
  for (const char* link : {"intra_node", "inter_node"})
    for (const auto& k : link_keys()) figures.insert(std::string(link) + "." + k);
  const json& src = j.at("sources");
  require(src.is_object(), where, ": 'sources' must be an object {figure: source}");
  for (const auto& [key, v] : src.items()) {
    require(figures.count(key) == 1, where, ": sources has unknown figure '", key, "'");
    require(v.is_string() && !v.get<std::string>().empty(), where, ": sources.", key,
            " must be a non-empty string");
    p.sources[key] = v.get<std::string>();
  }
  for (const auto& f : figures)
    require(p.sources.count(f) == 1, where, ": sources lacks an entry for '", f,
            "' (say where the figure comes from)");
  return p;
}

HardwareProfile load_profile(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "cannot open hardware profile '", path,
          "'; give a path or a name from perfmodel/profiles/");
  json j;
  try {
    in >> j;
  } catch (const json::exception& e) {
    fail("hardware profile '", path, "' is not valid JSON: ", e.what());
  }
  return profile_from_json(j, path);
}

std::string resolve_profile_path(const std::string& name_or_path) {
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       (name_or_path.size() > 5 &&
                        name_or_path.compare(name_or_path.size() - 5, 5, ".json") == 0);
  if (is_path) return name_or_path;
  return std::string(LPT_SOURCE_DIR) + "/perfmodel/profiles/" + name_or_path + ".json";
}

json profile_to_json(const HardwareProfile& p) {
  json j;
  j["name"] = p.name;
  j["description"] = p.description;
  j["kind"] = p.kind;
  j["ranks_per_node"] = p.ranks_per_node;
  for (const auto& f : figures()) j[f.key] = p.*f.field;
  for (const auto& [name, link] :
       {std::pair{"intra_node", &p.intra_node}, std::pair{"inter_node", &p.inter_node}}) {
    json& l = j[name];
    for (const auto& f : link_figures()) l[f.key] = link->*f.field;
  }
  j["sources"] = p.sources;
  return j;
}

void save_profile(const HardwareProfile& p, const std::string& path) {
  const json j = profile_to_json(p);
  profile_from_json(j, path);
  std::ofstream out(path);
  require(out.good(), "cannot write hardware profile '", path, "'");
  out << j.dump(2) << "\n";
}

double kernel_time(const Kernel& k, const HardwareProfile& hw, int act_bytes) {
  const double rate = k.cls == KernelClass::gemm ? hw.gemm_flops(act_bytes) : hw.vector_flops;
  return std::max(k.flops / rate, k.bytes / hw.memory_bandwidth) + hw.kernel_overhead_s;
}

double op_time(const OpCost& op, const HardwareProfile& hw, int act_bytes) {
  double t = 0;
  for (const auto& k : op.kernels()) t += kernel_time(k, hw, act_bytes);
  return t;
}

double message_time(double bytes, const Link& link) {
  return link.latency_s + bytes / link.bandwidth;
}

}  // namespace lpt::perf
