// The key table (defaults, ranges, meanings) and the checks that read it.
#include "train/config_schema.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace lpt::config_detail {

namespace {

using json = nlohmann::json;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr unsigned kText = family_bit(Family::gpt) | family_bit(Family::bert);
constexpr unsigned kTokens = kText | family_bit(Family::mt);
constexpr unsigned kStack = kText | family_bit(Family::vit);
constexpr unsigned kMt = family_bit(Family::mt);
constexpr unsigned kVit = family_bit(Family::vit);

// Upper bounds of the integer keys. Sizes are stored as int and multiplied together (d_model *
// d_ff, batch * seq_len * d_model), so each is capped well below where those products or the
// narrowing to int could wrap; counts of steps stay below 2^40 so that no step counter or
// schedule arithmetic can overflow. docs/config.md lists every key's range.
constexpr double kDepthMax = 65536;        // layers per stack
constexpr double kWidthMax = 65536;        // d_model
constexpr double kHeadsMax = 4096;
constexpr double kFfMax = 1048576;         // d_ff
constexpr double kLenMax = 65536;          // sequence lengths, patch side, image sides
constexpr double kVocabMax = 16777216;     // vocab, n_classes
constexpr double kBatchMax = 1048576;      // batch and batch counts
constexpr double kStepsMax = 1099511627776;  // 2^40 steps
constexpr double kThreadsMax = 4096;
constexpr double kItersMax = 1000000;      // MGRIT iterations, patience, raises
constexpr double kRanksMax = 1048576;
constexpr double kLevelsMax = 64;
constexpr double kCfactorMax = 65536;
constexpr double kSeedMax = 9007199254740991;  // 2^53 - 1: exact as a JSON number everywhere

KeySpec make(std::string path, Kind kind, json def, std::string doc) {
  KeySpec k;
  k.path = std::move(path);
  k.kind = kind;
  k.def = std::move(def);
  k.doc = std::move(doc);
  return k;
}

KeySpec integer(std::string path, long def, double lo, std::string doc, unsigned fam = kAllFamilies,
                double hi = kInf) {
  KeySpec k = make(std::move(path), Kind::integer, def, std::move(doc));
  k.lo = lo;
  k.hi = hi;
  k.families = fam;
  return k;
}

KeySpec number(std::string path, double def, double lo, bool lo_open, double hi, bool hi_open,
               std::string doc, unsigned fam = kAllFamilies) {
  KeySpec k = make(std::move(path), Kind::number, def, std::move(doc));
  k.lo = lo;
  k.lo_open = lo_open;
  k.hi = hi;
  k.hi_open = hi_open;
  k.families = fam;
  return k;
}

KeySpec choice(std::string path, std::string def, std::vector<std::string> choices, std::string doc,
               unsigned fam = kAllFamilies) {
  KeySpec k = make(std::move(path), Kind::choice, def, std::move(doc));
  k.choices = std::move(choices);
  k.families = fam;
  return k;
}

KeySpec string(std::string path, std::string def, std::string doc) {
  return make(std::move(path), Kind::string, def, std::move(doc));
}

void add_mgrit(std::vector<KeySpec>& s, const std::string& dir, int iterations) {
  const std::string p = "solver.mgrit." + dir + ".";
  s.push_back(integer(p + "levels", 2, 1, "MGRIT levels of the " + dir + " solve (1 = serial)",
                      kAllFamilies, kLevelsMax));
  s.push_back(integer(p + "cfactor", 4, 2, "coarsening factor between levels", kAllFamilies,
                      kCfactorMax));
  s.push_back(choice(p + "relax", "F", {"F", "FCF"}, "relaxation on the fine level"));
  s.push_back(integer(p + "iterations", iterations, 1, "MGRIT iterations per " + dir + " solve",
                      kAllFamilies, kItersMax));
  s.push_back(make(p + "skip", Kind::boolean, false,
                   "skip the work of the first down-cycle (XBraid's skip, as the research codes run)"));
}

std::vector<KeySpec> build_schema() {
  std::vector<KeySpec> s;
  s.push_back(string("description", "", "free text describing the run (kept in the record)"));

  s.push_back(choice("model.family", "gpt", {"gpt", "bert", "vit", "mt"}, "model family"));
  s.push_back(integer("model.layers", 4, 1, "number of layers N (ODE steps)", kStack, kDepthMax));
  s.push_back(integer("model.enc_layers", 3, 1, "encoder layers", kMt, kDepthMax));
  s.push_back(integer("model.dec_layers", 3, 1, "decoder layers", kMt, kDepthMax));
  s.push_back(integer("model.d_model", 128, 1, "width of the residual stream d", kAllFamilies, kWidthMax));
  s.push_back(integer("model.heads", 4, 1, "attention heads (must divide d_model)", kAllFamilies, kHeadsMax));
  s.push_back(integer("model.d_ff", 0, 0, "MLP hidden width; 0 = 4 * d_model", kAllFamilies, kFfMax));
  s.push_back(integer("model.seq_len", 64, 1, "context length in tokens", kText, kLenMax));
  s.push_back(integer("model.src_len", 64, 1, "source length in tokens", kMt, kLenMax));
  s.push_back(integer("model.tgt_len", 64, 1, "target length in tokens", kMt, kLenMax));
  s.push_back(integer("model.vocab", 0, 0, "vocabulary size; 0 = from the tokenizer", kTokens, kVocabMax));
  s.push_back(number("model.dropout", 0.0, 0, false, 1, true, "dropout probability"));
  KeySpec h = make("model.step_size", Kind::step_size, 1.0,
            "ODE step size h: a number, or \"T/N\" for model.T / N (N = total layers)");
  s.push_back(h);
  s.push_back(number("model.T", 1.0, 0, true, kInf, false,
                     "final time; only with step_size \"T/N\""));
  s.push_back(integer("model.patch", 7, 1, "patch side p (must divide H and W)", kVit, kLenMax));
  KeySpec img = make("model.image", Kind::int_array, json::array({1, 28, 28}),
              "image shape [C, H, W]; must match the data set");
  img.lo = 1;
  img.hi = kLenMax;
  img.array_len = 3;
  img.families = kVit;
  s.push_back(img);
  s.push_back(integer("model.n_classes", 10, 2, "classes of the classifier head", kVit, kVocabMax));
  s.push_back(number("model.label_smoothing", 0.0, 0, false, 1, true,
                     "label smoothing epsilon of the cross-entropy"));

  s.push_back(choice("data.name", "english", {"english", "en_es", "fashion_mnist", "digits"},
                     "data set (default follows the family)"));
  s.push_back(string("data.dir", "data", "directory of prepared data (relative to the cwd)"));
  s.push_back(number("data.val_fraction", 0.1, 0, true, 1, true,
                     "fraction of the data held out for evaluation"));
  s.push_back(choice("data.tokenizer", "byte", {"byte", "char"}, "tokenizer", kTokens));
  s.push_back(integer("data.seed", 1, 0, "seed of the train/validation split and shuffling", kAllFamilies, kSeedMax));

  s.push_back(integer("train.steps", 1500, 1, "optimizer steps", kAllFamilies, kStepsMax));
  s.push_back(integer("train.batch", 16, 1, "sequences (or images) per step", kAllFamilies, kBatchMax));
  s.push_back(number("train.lr", 1e-3, 0, true, kInf, false, "peak learning rate"));
  s.push_back(choice("train.schedule", "cosine", {"constant", "cosine", "linear"},
                     "learning-rate decay after warmup"));
  s.push_back(integer("train.warmup", 100, 0, "linear warmup steps (0 = none)", kAllFamilies, kStepsMax));
  s.push_back(number("train.min_lr", 1e-4, 0, false, kInf, false,
                     "final learning rate of cosine/linear decay (<= train.lr)"));
  s.push_back(choice("train.optimizer", "adamw", {"adamw", "sgd"}, "optimizer"));
  KeySpec betas = make("train.betas", Kind::num_array, json::array({0.9, 0.95}),
                "AdamW moment decay rates [beta1, beta2]");
  betas.lo = 0;
  betas.hi = 1;
  betas.hi_open = true;
  betas.array_len = 2;
  s.push_back(betas);
  s.push_back(number("train.eps", 1e-8, 0, true, kInf, false, "AdamW epsilon"));
  s.push_back(number("train.momentum", 0.9, 0, false, 1, true, "SGD momentum (0 = none)"));
  s.push_back(number("train.weight_decay", 0.01, 0, false, kInf, false,
                     "decoupled weight decay"));
  s.push_back(number("train.clip", 1.0, 0, false, kInf, false,
                     "clip the global gradient norm to this; 0 = off"));
  s.push_back(integer("train.seed", 1, 0, "seed of initialization and dropout", kAllFamilies, kSeedMax));
  s.push_back(integer("train.threads", 0, 0, "OpenMP threads per rank; 0 = OpenMP's default", kAllFamilies, kThreadsMax));
  s.push_back(integer("train.eval_every", 100, 0, "evaluate every this many steps; 0 = never", kAllFamilies, kStepsMax));
  s.push_back(integer("train.eval_batches", 10, 1, "validation batches per evaluation", kAllFamilies, kBatchMax));
  s.push_back(make("train.check_memory", Kind::boolean, true,
                   "refuse a run whose estimated memory per rank exceeds the machine's available "
                   "memory (docs/memory.md); false = try anyway"));

  s.push_back(choice("solver.mode", "serial", {"serial", "parallel", "serial_forward", "adaptive"},
                     "serial (exact), parallel (MGRIT forward and backward), serial_forward "
                     "(exact forward, MGRIT backward), adaptive (parallel until the controller "
                     "switches)"));
  s.push_back(integer("solver.threads", 1, 1,
                      "OpenMP threads over MGRIT F-intervals inside one rank (1 = none)", kAllFamilies, kThreadsMax));
  s.push_back(make("solver.warm_start", Kind::boolean, false,
                   "start each step's MGRIT solves from the previous step's states (as "
                   "TorchBraid does) instead of from u0 and zero"));
  s.push_back(choice("solver.adjoint_guess", "zero", {"zero", "terminal", "previous"},
                     "the adjoint solve's start where warm start keeps no states: zero, terminal "
                     "(lambda_N at every point) or previous (the last adjoint solve's states, as "
                     "warm start for the adjoint alone)"));
  add_mgrit(s, "forward", 2);
  add_mgrit(s, "backward", 1);

  s.push_back(integer("monitor.every", 50, 0,
                      "measure the gradient error against exact serial every this many steps "
                      "(not in serial mode); 0 = never", kAllFamilies, kStepsMax));
  s.push_back(integer("monitor.batches", 4, 1,
                      "batches M per measurement (the bias estimate averages over them)", kAllFamilies, kBatchMax));
  s.push_back(choice("monitor.precision", "float32", {"float32", "float64"},
                     "precision of the check's g and g-hat: float64 computes both on a float64 "
                     "copy of the model, so the error's floor is not float32 rounding; the update "
                     "still uses the float32 layer-parallel gradient"));

  s.push_back(number("control.eta", 0.5, 0, true, 1, true,
                     "adaptive: act when the gradient bias exceeds eta times the gradient"));
  s.push_back(integer("control.patience", 3, 1,
                      "adaptive: consecutive measurements above eta before acting", kAllFamilies, kItersMax));
  s.push_back(choice("control.action", "serial", {"serial", "raise"},
                     "adaptive: go serial, or first raise MGRIT iterations (then serial at the cap "
                     "or when a raise does not hold the bias down)"));
  s.push_back(choice("control.raise_order", "backward_first", {"backward_first", "both"},
                     "adaptive: a raise adds to the backward count alone while it trails the "
                     "forward one (backward_first), or to both"));
  s.push_back(integer("control.iteration_step", 1, 1, "adaptive: iterations added per raise", kAllFamilies, kItersMax));
  s.push_back(integer("control.trend_horizon", 50, 0,
                      "adaptive: act when the bias's log-linear trend over the last checks "
                      "projects above eta this many steps ahead; 0 = level rule only", kAllFamilies, kStepsMax));
  s.push_back(integer("control.trend_window", 3, 2,
                      "adaptive: checks the trend is fitted over", kAllFamilies, 64));
  s.push_back(number("control.trend_growth", 4, 1, true, kInf, true,
                     "adaptive: least growth of the bias across the trend window for the trend "
                     "to count (guards against noise)"));
  s.push_back(number("control.trend_floor", 0.01, 0, false, 1, true,
                     "adaptive: the trend counts only once the bias is at least this"));
  s.push_back(integer("control.recheck", 5, 1,
                      "adaptive: steps after a raise at which the next check judges it", kAllFamilies, kStepsMax));
  s.push_back(number("control.raise_gain", 0.5, 0, true, 1, false,
                     "adaptive: a raise helped when it cut the bias to at most this fraction; "
                     "otherwise switch to serial"));
  s.push_back(number("control.alarm_growth", 10, 0, false, kInf, true,
                     "adaptive: check early when a solve's relative residual grows this many "
                     "times over its value at the last check; 0 = off (values in (0, 1] are "
                     "rejected)"));
  s.push_back(integer("control.max_forward_iterations", 8, 1,
                      "adaptive: cap of forward iterations before switching to serial", kAllFamilies, kItersMax));
  s.push_back(integer("control.max_backward_iterations", 8, 1,
                      "adaptive: cap of backward iterations before switching to serial", kAllFamilies, kItersMax));
  s.push_back(string("control.cost_model", "",
                     "adaptive: hardware profile (name or path) with which the performance model "
                     "checks that raised iterations still beat serial; empty = off"));
  s.push_back(integer("control.cost_ranks", 0, 0,
                      "adaptive: ranks the cost model assumes; 0 = the run's MPI ranks", kAllFamilies, kRanksMax));

  s.push_back(string("output.file", "run.h5", "HDF5 run record path"));
  s.push_back(string("output.checkpoint", "", "checkpoint path; empty = no checkpoints"));
  s.push_back(integer("output.checkpoint_every", 0, 0,
                      "checkpoint every this many steps; 0 = only at the end", kAllFamilies, kStepsMax));
  s.push_back(make("output.overwrite", Kind::boolean, false,
                   "let output.file / output.checkpoint replace an existing HDF5 file that is "
                   "not an lpt record / checkpoint (lpt never replaces other files)"));
  s.push_back(integer("output.log_every", 10, 1, "progress line every this many steps", kAllFamilies, kStepsMax));
  return s;
}

std::string fmt_num(double v) {
  std::ostringstream os;
  // Integral bounds in full (1048576, not 1.04858e+06): the message is what the user types.
  if (std::fabs(v) < 1e16 && v == std::floor(v)) {
    os << static_cast<long long>(v);
  } else {
    os << v;
  }
  return os.str();
}

std::string range_text(const KeySpec& k, bool integral) {
  const bool has_lo = std::isfinite(k.lo), has_hi = std::isfinite(k.hi);
  if (has_lo && has_hi) {
    return std::string(" in ") + (k.lo_open ? "(" : "[") + fmt_num(k.lo) + ", " + fmt_num(k.hi) +
           (k.hi_open ? ")" : "]");
  }
  if (has_lo) return (k.lo_open ? " > " : " >= ") + fmt_num(k.lo);
  if (has_hi) return (k.hi_open ? " < " : " <= ") + fmt_num(k.hi);
  return "";
}

bool in_range(const KeySpec& k, double v) {
  // No key means anything by NaN or infinity (an unbounded key is unbounded among finite values).
  if (!std::isfinite(v)) return false;
  if (k.lo_open ? !(v > k.lo) : !(v >= k.lo)) return false;
  if (k.hi_open ? !(v < k.hi) : !(v <= k.hi)) return false;
  return true;
}

bool is_integral(const json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15;
}

bool scalar_ok(const KeySpec& k, const json& v, bool integral) {
  if (integral ? !is_integral(v) : !v.is_number()) return false;
  return in_range(k, v.get<double>());
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(const std::string& a, const std::string& b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string parent_of(const std::string& p) {
  const auto dot = p.rfind('.');
  return dot == std::string::npos ? "" : p.substr(0, dot);
}

std::string leaf_of(const std::string& p) {
  const auto dot = p.rfind('.');
  return dot == std::string::npos ? p : p.substr(dot + 1);
}

std::vector<std::string> all_paths() {
  std::vector<std::string> out;
  for (const auto& k : schema()) {
    std::string p = k.path;
    out.push_back(p);
    for (p = parent_of(p); !p.empty(); p = parent_of(p)) {
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    }
  }
  return out;
}

}  // namespace

const std::vector<KeySpec>& schema() {
  static const std::vector<KeySpec> s = build_schema();
  return s;
}

const KeySpec* find_key(const std::string& path) {
  for (const auto& k : schema()) {
    if (k.path == path) return &k;
  }
  return nullptr;
}

bool is_section(const std::string& path) {
  const std::string prefix = path + ".";
  for (const auto& k : schema()) {
    if (k.path.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

std::string expectation(const KeySpec& k) {
  switch (k.kind) {
    case Kind::integer:
      return "an integer" + range_text(k, true);
    case Kind::number:
      if (k.lo == 0 && k.lo_open && !std::isfinite(k.hi)) return "a positive number";
      return "a number" + range_text(k, false);
    case Kind::string:
      return "a string";
    case Kind::choice: {
      std::string s = "one of ";
      for (std::size_t i = 0; i < k.choices.size(); ++i) {
        s += (i ? ", \"" : "\"") + k.choices[i] + "\"";
      }
      return s;
    }
    case Kind::int_array:
      return "an array of " + std::to_string(k.array_len) + " integers" + range_text(k, true);
    case Kind::num_array:
      return "an array of " + std::to_string(k.array_len) + " numbers" + range_text(k, false);
    case Kind::step_size:
      return "a positive number or the string \"T/N\"";
    case Kind::boolean:
      return "true or false";
  }
  return "?";
}

bool value_ok(const KeySpec& k, const json& v) {
  switch (k.kind) {
    case Kind::integer:
      return scalar_ok(k, v, true);
    case Kind::number:
      return scalar_ok(k, v, false);
    case Kind::string:
      return v.is_string();
    case Kind::choice:
      return v.is_string() && std::find(k.choices.begin(), k.choices.end(),
                                         v.get<std::string>()) != k.choices.end();
    case Kind::int_array:
    case Kind::num_array: {
      if (!v.is_array() || v.size() != k.array_len) return false;
      return std::all_of(v.begin(), v.end(), [&](const json& e) {
        return scalar_ok(k, e, k.kind == Kind::int_array);
      });
    }
    case Kind::step_size:
      if (v.is_string()) return v == "T/N" || v == "1/N";
      return v.is_number() && v.get<double>() > 0 && std::isfinite(v.get<double>());
    case Kind::boolean:
      return v.is_boolean();
  }
  return false;
}

std::string family_list(unsigned families) {
  std::string s;
  for (Family f : {Family::gpt, Family::bert, Family::vit, Family::mt}) {
    if (families & family_bit(f)) s += (s.empty() ? "" : "|") + std::string(to_string(f));
  }
  return s;
}

// Names other codes use for our keys (nanoGPT, HF, torch); edit distance would not find them.
const char* alias_of(const std::string& leaf) {
  static const std::pair<const char*, const char*> aliases[] = {
      {"learning_rate", "train.lr"},  {"batch_size", "train.batch"},
      {"max_steps", "train.steps"},   {"max_iters", "train.steps"},
      {"grad_clip", "train.clip"},
      {"wd", "train.weight_decay"},   {"n_layer", "model.layers"},
      {"n_layers", "model.layers"},   {"num_layers", "model.layers"},
      {"n_head", "model.heads"},      {"num_heads", "model.heads"},
      {"n_embd", "model.d_model"},    {"hidden_size", "model.d_model"},
      {"block_size", "model.seq_len"}, {"context", "model.seq_len"},
      {"d_mlp", "model.d_ff"},        {"vocab_size", "model.vocab"},
      {"h", "model.step_size"},       {"patch_size", "model.patch"},
  };
  for (const auto& [from, to] : aliases) {
    if (leaf == from) return to;
  }
  return nullptr;
}

std::string nearest_key(const std::string& path_in) {
  // Edit distance is quadratic in the length; no key is longer than ~40 characters, so the first
  // 80 of an unknown key decide its neighbour and a 100 kB key costs no more than a short one.
  const std::string path = path_in.substr(0, 80);
  if (const char* a = alias_of(leaf_of(path))) return a;
  std::string best;
  std::size_t best_d = static_cast<std::size_t>(-1);
  for (const auto& cand : all_paths()) {
    std::size_t d = edit_distance(path, cand);
    const std::size_t leaf_d =
        edit_distance(leaf_of(path), leaf_of(cand)) + (parent_of(path) == parent_of(cand) ? 0 : 1);
    d = std::min(d, leaf_d);
    if (d < best_d) {
      best_d = d;
      best = cand;
    }
  }
  return best;
}

}  // namespace lpt::config_detail
