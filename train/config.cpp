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

template <class E>
E choice_of(const json& v, std::initializer_list<E> all) {
  const std::string s = v.get<std::string>();
  for (E e : all) {
    if (s == to_string(e)) return e;
  }
  fail("internal: choice '", s, "' has no enum value");
}

Family family_of(const json& v) {
  return choice_of(v, {Family::gpt, Family::bert, Family::vit, Family::mt});
}

json at(const json& resolved, const std::string& path) { return resolved.at(pointer(path)); }

void fill_model(const json& r, RunConfig& c) {
  ModelSection& m = c.model;
  m.family = family_of(at(r, "model.family"));
  const json& j = r.at("model");
  if (m.family == Family::mt) {
    m.enc_layers = j.at("enc_layers").get<int>();
    m.dec_layers = j.at("dec_layers").get<int>();
    m.src_len = j.at("src_len").get<int>();
    m.tgt_len = j.at("tgt_len").get<int>();
  } else {
    m.layers = j.at("layers").get<int>();
  }
  if (m.family == Family::gpt || m.family == Family::bert) m.seq_len = j.at("seq_len").get<int>();
  if (m.family != Family::vit) m.vocab = j.at("vocab").get<int>();
  if (m.family == Family::vit) {
    m.patch = j.at("patch").get<int>();
    m.n_classes = j.at("n_classes").get<int>();
    for (int i = 0; i < 3; ++i) m.image[i] = j.at("image").at(i).get<int>();
  }
  m.d_model = j.at("d_model").get<int>();
  m.heads = j.at("heads").get<int>();
  m.d_ff = j.at("d_ff").get<int>();
  m.dropout = j.at("dropout").get<double>();
  m.label_smoothing = j.at("label_smoothing").get<double>();
  const json& h = j.at("step_size");
  if (h.is_string()) m.T = j.at("T").get<double>();
  m.step_size = h.is_string() ? h.get<std::string>() : h.dump();
  m.h = h.is_string() ? m.T / m.total_layers() : h.get<double>();
}

MgritConfig mgrit_of(const json& j) {
  MgritConfig g;
  g.levels = j.at("levels").get<int>();
  g.cfactor = j.at("cfactor").get<int>();
  g.relax = j.at("relax") == "F" ? Relax::F : Relax::FCF;
  g.iterations = j.at("iterations").get<int>();
  g.skip = j.at("skip").get<bool>();
  return g;
}

void fill_rest(const json& r, RunConfig& c) {
  c.description = r.at("description").get<std::string>();
  const json& d = r.at("data");
  c.data.name = d.at("name").get<std::string>();
  c.data.dir = d.at("dir").get<std::string>();
  c.data.val_fraction = d.at("val_fraction").get<double>();
  if (c.model.family != Family::vit) c.data.tokenizer = d.at("tokenizer").get<std::string>();
  c.data.seed = d.at("seed").get<std::uint64_t>();

  const json& t = r.at("train");
  TrainConfig& tc = c.train;
  tc.steps = t.at("steps").get<long>();
  tc.batch = t.at("batch").get<int>();
  tc.lr = t.at("lr").get<double>();
  tc.schedule = choice_of(t.at("schedule"), {Schedule::constant, Schedule::cosine,
                                             Schedule::linear});
  tc.warmup = t.at("warmup").get<long>();
  tc.min_lr = t.at("min_lr").get<double>();
  tc.optimizer = choice_of(t.at("optimizer"), {OptimizerKind::adamw, OptimizerKind::sgd});
  tc.betas = {t.at("betas").at(0).get<double>(), t.at("betas").at(1).get<double>()};
  tc.eps = t.at("eps").get<double>();
  tc.momentum = t.at("momentum").get<double>();
  tc.weight_decay = t.at("weight_decay").get<double>();
  tc.clip = t.at("clip").get<double>();
  tc.seed = t.at("seed").get<std::uint64_t>();
  tc.threads = t.at("threads").get<int>();
  tc.eval_every = t.at("eval_every").get<long>();
  tc.eval_batches = t.at("eval_batches").get<int>();
  tc.check_memory = t.at("check_memory").get<bool>();

  const json& s = r.at("solver");
  c.solver.mode = choice_of(s.at("mode"), {SolverMode::serial, SolverMode::parallel,
                                           SolverMode::serial_forward, SolverMode::adaptive});
  c.solver.threads = s.at("threads").get<int>();
  c.solver.warm_start = s.at("warm_start").get<bool>();
  c.solver.adjoint_guess = choice_of(
      s.at("adjoint_guess"), {AdjointGuess::zero, AdjointGuess::terminal, AdjointGuess::previous});
  c.solver.forward = mgrit_of(s.at("mgrit").at("forward"));
  c.solver.backward = mgrit_of(s.at("mgrit").at("backward"));

  const json& mo = r.at("monitor");
  c.monitor.every = mo.at("every").get<long>();
  c.monitor.batches = mo.at("batches").get<int>();
  c.monitor.precision =
      choice_of(mo.at("precision"), {MonitorPrecision::float32, MonitorPrecision::float64});
  const json& ct = r.at("control");
  c.control.eta = ct.at("eta").get<double>();
  c.control.patience = ct.at("patience").get<int>();
  c.control.action = ct.at("action").get<std::string>();
  c.control.raise_order = ct.at("raise_order").get<std::string>();
  c.control.iteration_step = ct.at("iteration_step").get<int>();
  c.control.trend_horizon = ct.at("trend_horizon").get<long>();
  c.control.trend_window = ct.at("trend_window").get<int>();
  c.control.trend_growth = ct.at("trend_growth").get<double>();
  c.control.trend_floor = ct.at("trend_floor").get<double>();
  c.control.recheck = ct.at("recheck").get<long>();
  c.control.raise_gain = ct.at("raise_gain").get<double>();
  c.control.alarm_growth = ct.at("alarm_growth").get<double>();
  c.control.max_forward_iterations = ct.at("max_forward_iterations").get<int>();
  c.control.max_backward_iterations = ct.at("max_backward_iterations").get<int>();
  c.control.cost_model = ct.at("cost_model").get<std::string>();
  c.control.cost_ranks = ct.at("cost_ranks").get<int>();

  const json& o = r.at("output");
  c.output.file = o.at("file").get<std::string>();
  c.output.checkpoint = o.at("checkpoint").get<std::string>();
  c.output.checkpoint_every = o.at("checkpoint_every").get<long>();
  c.output.log_every = o.at("log_every").get<long>();
  c.output.overwrite = o.at("overwrite").get<bool>();
}

const char* data_kind_for(Family f) {
  switch (f) {
    case Family::gpt:
    case Family::bert: return "english";
    case Family::mt: return "en_es";
    case Family::vit: return "fashion_mnist or digits";
  }
  return "?";
}

bool data_fits(Family f, const std::string& name) {
  if (f == Family::vit) return name == "fashion_mnist" || name == "digits";
  return name == (f == Family::mt ? "en_es" : "english");
}

void check_model(const ModelSection& m, const std::string& data_name) {
  require(m.d_model % m.heads == 0, "model.heads: must divide model.d_model (", m.d_model,
          " % ", m.heads, " = ", m.d_model % m.heads, "); pick heads from the divisors of d_model");
  if (m.family == Family::vit) {
    require(m.image[1] % m.patch == 0 && m.image[2] % m.patch == 0, "model.patch: ", m.patch,
            " does not divide the image size ", m.image[1], "x", m.image[2]);
    const std::array<int, 3> want = data_name == "digits" ? std::array<int, 3>{1, 8, 8}
                                                          : std::array<int, 3>{1, 28, 28};
    require(m.image == want, "model.image: data set ", data_name, " has images [", want[0], ", ",
            want[1], ", ", want[2], "], got [", m.image[0], ", ", m.image[1], ", ", m.image[2],
            "]");
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
  if (c.solver.mode == SolverMode::serial) return;
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
      m.family == Family::mt ? std::max(m.src_len, m.tgt_len)
      : m.family == Family::vit
          ? 1LL + (m.image[1] / m.patch) * static_cast<long long>(m.image[2] / m.patch)
          : m.seq_len;
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
  check_products(c);
  require(c.train.min_lr <= c.train.lr, "train.min_lr: ", c.train.min_lr,
          " exceeds train.lr (", c.train.lr, ")");
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
  fill_model(c.resolved, c);
  fill_rest(c.resolved, c);
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

std::string config_reference() {
  std::ostringstream os;
  for (const auto& k : schema()) {
    os << "  " << k.path;
    for (std::size_t i = k.path.size(); i < 34; ++i) os << ' ';
    os << k.def.dump() << "  " << k.doc;
    if (k.families != kAllFamilies) os << " [" << family_list(k.families) << "]";
    os << "\n";
  }
  return os.str();
}

}  // namespace lpt
