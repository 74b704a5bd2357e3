// The key table (defaults, ranges, meanings) and the checks that read it.
#include "train/config_schema.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <type_traits>

#include "util/error.hpp"

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

// An array of `len` integers in [lo, hi], stored field by field by `store`.
KeySpec int_array(std::string path, json def, int len, double lo, double hi, unsigned fam,
                  std::string doc, std::function<void(const json&, RunConfig&)> store) {
  KeySpec k = make(std::move(path), Kind::int_array, std::move(def), std::move(doc));
  k.lo = lo;
  k.hi = hi;
  k.array_len = len;
  k.families = fam;
  k.store = std::move(store);
  return k;
}

KeySpec string(std::string path, std::string def, std::string doc) {
  return make(std::move(path), Kind::string, def, std::move(doc));
}

// The enumerator of E whose to_string() is `name`. Enumerators are contiguous from 0 (all of the
// config's enums are), so the names are found without a second list of them.
template <class E>
E enumerator_named(const std::string& name) {
  for (int i = 0; i < 64; ++i) {
    if (name == to_string(static_cast<E>(i))) return static_cast<E>(i);
  }
  fail("internal: '", name, "' names no enumerator of the config field it is stored in");
}

// `k` stored into the field that `field(RunConfig&)` returns. A choice stored into an enum is
// checked here, when the table is built, to name an enumerator for every choice.
template <class Field>
KeySpec to(KeySpec k, Field field) {
  using F = std::decay_t<decltype(field(std::declval<RunConfig&>()))>;
  if constexpr (std::is_enum_v<F>) {
    for (const auto& c : k.choices) enumerator_named<F>(c);
    k.store = [field](const json& v, RunConfig& c) {
      field(c) = enumerator_named<F>(v.get<std::string>());
    };
  } else {
    k.store = [field](const json& v, RunConfig& c) { field(c) = v.get<F>(); };
  }
  return k;
}

// The field of RunConfig that a key fills: FIELD(train.lr).
#define FIELD(member) [](RunConfig& c) -> auto& { return c.member; }

void add_mgrit(std::vector<KeySpec>& s, const std::string& dir, int iterations,
               MgritConfig SolverConfig::*solve) {
  const std::string p = "solver.mgrit." + dir + ".";
  auto in = [solve](auto field) {
    return [solve, field](RunConfig& c) -> auto& { return (c.solver.*solve).*field; };
  };
  s.push_back(to(integer(p + "levels", 2, 1, "MGRIT levels of the " + dir + " solve (1 = serial)",
                         kAllFamilies, kLevelsMax),
                 in(&MgritConfig::levels)));
  s.push_back(to(
      integer(p + "cfactor", 4, 2, "coarsening factor between levels", kAllFamilies, kCfactorMax),
      in(&MgritConfig::cfactor)));
  s.push_back(to(choice(p + "relax", "F", {"F", "FCF"}, "relaxation on the fine level"),
                 in(&MgritConfig::relax)));
  s.push_back(to(integer(p + "iterations", iterations, 1, "MGRIT iterations per " + dir + " solve",
                         kAllFamilies, kItersMax),
                 in(&MgritConfig::iterations)));
  s.push_back(to(make(p + "skip", Kind::boolean, false,
                      "skip the work of the first down-cycle (XBraid's skip, as the research codes "
                      "run)"),
                 in(&MgritConfig::skip)));
}

std::vector<KeySpec> build_schema() {
  std::vector<KeySpec> s;
  s.push_back(to(string("description", "", "free text describing the run (kept in the record)"),
                 FIELD(description)));

  s.push_back(to(choice("model.family", "gpt", {"gpt", "bert", "vit", "mt"}, "model family"),
                 FIELD(model.family)));
  s.push_back(to(integer("model.layers", 4, 1, "number of layers N (ODE steps)", kStack, kDepthMax),
                 FIELD(model.layers)));
  s.push_back(to(integer("model.enc_layers", 3, 1, "encoder layers", kMt, kDepthMax),
                 FIELD(model.enc_layers)));
  s.push_back(to(integer("model.dec_layers", 3, 1, "decoder layers", kMt, kDepthMax),
                 FIELD(model.dec_layers)));
  s.push_back(to(
      integer("model.d_model", 128, 1, "width of the residual stream d", kAllFamilies, kWidthMax),
      FIELD(model.d_model)));
  s.push_back(to(integer("model.heads", 4, 1, "attention heads (must divide d_model)", kAllFamilies,
                         kHeadsMax),
                 FIELD(model.heads)));
  s.push_back(
      to(integer("model.d_ff", 0, 0, "MLP hidden width; 0 = 4 * d_model", kAllFamilies, kFfMax),
         FIELD(model.d_ff)));
  s.push_back(to(integer("model.seq_len", 64, 1, "context length in tokens", kText, kLenMax),
                 FIELD(model.max_len)));
  s.push_back(to(integer("model.src_len", 64, 1, "source length in tokens", kMt, kLenMax),
                 FIELD(model.src_max_len)));
  s.push_back(to(integer("model.tgt_len", 64, 1, "target length in tokens", kMt, kLenMax),
                 FIELD(model.tgt_max_len)));
  s.push_back(to(
      integer("model.vocab", 0, 0, "vocabulary size; 0 = from the tokenizer", kTokens, kVocabMax),
      FIELD(model.vocab)));
  s.push_back(to(number("model.dropout", 0.0, 0, false, 1, true, "dropout probability"),
                 FIELD(model.dropout)));
  KeySpec h = make("model.step_size", Kind::step_size, 1.0,
                   "ODE step size h: a number, or \"T/N\" for model.T / N (N = total layers)");
  s.push_back(h);
  s.push_back(
      number("model.T", 1.0, 0, true, kInf, false, "final time; only with step_size \"T/N\""));
  s.push_back(to(integer("model.patch", 7, 1, "patch side p (must divide H and W)", kVit, kLenMax),
                 FIELD(model.patch)));
  s.push_back(int_array("model.edge_layers", json::array({0, 0}), 2, 0, kDepthMax, kStack,
                        "ordinary (h = 1) transformer layers [before, after] the ODE chain, "
                        "computed exactly with the opening and closing on rank 0, outside MGRIT",
                        [](const json& v, RunConfig& c) {
                          c.model.edge_before = v.at(0).get<int>();
                          c.model.edge_after = v.at(1).get<int>();
                        }));
  s.push_back(int_array("model.image", json::array({1, 28, 28}), 3, 1, kLenMax, kVit,
                        "image shape [C, H, W]; must match the data set",
                        [](const json& v, RunConfig& c) {
                          c.model.channels = v.at(0).get<int>();
                          c.model.image_h = v.at(1).get<int>();
                          c.model.image_w = v.at(2).get<int>();
                        }));
  s.push_back(
      to(integer("model.n_classes", 10, 2,
                 "classes of the classifier head (vit; bert with data.name fortunes)",
                 kVit | family_bit(Family::bert), kVocabMax),
         FIELD(model.n_classes)));
  s.push_back(to(number("model.label_smoothing", 0.0, 0, false, 1, true,
                        "label smoothing epsilon of the cross-entropy"),
                 FIELD(model.label_smoothing)));

  s.push_back(to(choice("data.name", "english",
                        {"english", "en_es", "fashion_mnist", "digits", "fortunes"},
                        "data set (default follows the family)"),
                 FIELD(data.name)));
  s.push_back(to(string("data.dir", "data", "directory of prepared data (relative to the cwd)"),
                 FIELD(data.dir)));
  s.push_back(to(number("data.val_fraction", 0.1, 0, true, 1, true,
                        "fraction of the data held out for evaluation"),
                 FIELD(data.val_fraction)));
  s.push_back(to(choice("data.tokenizer", "byte", {"byte", "char", "bpe"},
                        "tokenizer: byte (256 bytes), char (the data's characters), bpe "
                        "(subwords learned from the training split; translation only)",
                        kTokens),
                 FIELD(data.tokenizer)));
  s.push_back(to(integer("data.bpe_vocab", 2000, 16,
                         "data.tokenizer = bpe: ids per language, specials and base characters "
                         "included (fewer when the training text runs out of pairs to merge)",
                         kMt, kVocabMax),
                 FIELD(data.bpe_vocab)));
  s.push_back(to(integer("data.seed", 1, 0, "seed of the train/validation split and shuffling",
                         kAllFamilies, kSeedMax),
                 FIELD(data.seed)));

  s.push_back(to(integer("train.steps", 1500, 1, "optimizer steps", kAllFamilies, kStepsMax),
                 FIELD(train.steps)));
  s.push_back(
      to(integer("train.batch", 16, 1,
                 "sequences (or images) per micro-batch (per step unless train.accumulate > 1)",
                 kAllFamilies, kBatchMax),
         FIELD(train.batch)));
  s.push_back(to(integer("train.accumulate", 1, 1,
                         "micro-batches of train.batch items per optimizer step (gradient "
                         "accumulation); the update uses the mean of their gradients",
                         kAllFamilies, kBatchMax),
                 FIELD(train.accumulate)));
  s.push_back(to(integer("train.data_groups", 1, 1,
                         "data parallelism: mpirun -np D*P splits the ranks into D groups of P; "
                         "each group trains on train.batch / D items of every batch and the "
                         "gradients are summed across groups before the update",
                         kAllFamilies, kBatchMax),
                 FIELD(train.data_groups)));
  s.push_back(
      to(number("train.lr", 1e-3, 0, true, kInf, false, "peak learning rate"), FIELD(train.lr)));
  s.push_back(to(choice("train.schedule", "cosine", {"constant", "cosine", "linear"},
                        "learning-rate decay after warmup"),
                 FIELD(train.schedule)));
  s.push_back(
      to(integer("train.warmup", 100, 0, "linear warmup steps (0 = none)", kAllFamilies, kStepsMax),
         FIELD(train.warmup)));
  s.push_back(to(number("train.min_lr", 1e-4, 0, false, kInf, false,
                        "final learning rate of cosine/linear decay (<= train.lr)"),
                 FIELD(train.min_lr)));
  s.push_back(to(choice("train.optimizer", "adamw", {"adamw", "sgd"}, "optimizer"),
                 FIELD(train.optimizer)));
  KeySpec betas = make("train.betas", Kind::num_array, json::array({0.9, 0.95}),
                       "AdamW moment decay rates [beta1, beta2]");
  betas.lo = 0;
  betas.hi = 1;
  betas.hi_open = true;
  betas.array_len = 2;
  s.push_back(to(betas, FIELD(train.betas)));
  s.push_back(
      to(number("train.eps", 1e-8, 0, true, kInf, false, "AdamW epsilon"), FIELD(train.eps)));
  s.push_back(to(number("train.momentum", 0.9, 0, false, 1, true, "SGD momentum (0 = none)"),
                 FIELD(train.momentum)));
  s.push_back(
      to(number("train.weight_decay", 0.01, 0, false, kInf, false, "decoupled weight decay"),
         FIELD(train.weight_decay)));
  s.push_back(to(number("train.clip", 1.0, 0, false, kInf, false,
                        "clip the global gradient norm to this; 0 = off"),
                 FIELD(train.clip)));
  s.push_back(
      to(integer("train.seed", 1, 0, "seed of initialization and dropout", kAllFamilies, kSeedMax),
         FIELD(train.seed)));
  s.push_back(to(integer("train.threads", 0, 0, "OpenMP threads per rank; 0 = OpenMP's default",
                         kAllFamilies, kThreadsMax),
                 FIELD(train.threads)));
  s.push_back(to(integer("train.eval_every", 100, 0, "evaluate every this many steps; 0 = never",
                         kAllFamilies, kStepsMax),
                 FIELD(train.eval_every)));
  s.push_back(to(integer("train.eval_batches", 10, 1, "validation batches per evaluation",
                         kAllFamilies, kBatchMax),
                 FIELD(train.eval_batches)));
  s.push_back(
      to(make("train.check_memory", Kind::boolean, true,
              "refuse a run whose estimated memory per rank exceeds the machine's available "
              "memory (docs/memory.md); false = try anyway"),
         FIELD(train.check_memory)));
  s.push_back(to(string("train.init_from", "",
                        "checkpoint (output.checkpoint of an earlier run) whose parameters "
                        "start this run instead of the seed's initialization; a fresh optimizer, "
                        "step 0 (fine-tuning, replaying trained weights); empty = none"),
                 FIELD(train.init_from)));
  s.push_back(to(string("train.init_skip", "",
                        "with train.init_from: comma-separated parameter-name prefixes left at "
                        "the seed's initialization (a new head: \"head_\"); every other tensor "
                        "must be in the checkpoint with its shape"),
                 FIELD(train.init_skip)));

  s.push_back(
      to(choice("solver.mode", "serial",
                {"serial", "parallel", "serial_forward", "adaptive", "pipeline"},
                "serial (exact), parallel (MGRIT forward and backward), serial_forward "
                "(exact forward, MGRIT backward), adaptive (parallel until the controller "
                "switches), pipeline (exact; layers split over the ranks, micro-batches "
                "flowing through them)"),
         FIELD(solver.mode)));
  s.push_back(to(integer("solver.pipeline.micro_batches", 1, 1,
                         "pipeline mode: micro-batches each batch is cut into (train.batch must "
                         "be a multiple of data_groups times this)",
                         kAllFamilies, kBatchMax),
                 FIELD(solver.micro_batches)));
  s.push_back(to(choice("solver.pipeline.schedule", "1f1b", {"1f1b", "gpipe"},
                        "pipeline mode: 1f1b (one forward, one backward: at most P micro-batches "
                        "in flight) or gpipe (all forwards, then all backwards)"),
                 FIELD(solver.schedule)));
  s.push_back(to(integer("solver.threads", 1, 1,
                         "OpenMP threads over MGRIT F-intervals inside one rank (1 = none)",
                         kAllFamilies, kThreadsMax),
                 FIELD(solver.threads)));
  s.push_back(to(make("solver.warm_start", Kind::boolean, false,
                      "start each step's MGRIT solves from the previous step's states (as "
                      "TorchBraid does) instead of from u0 and zero"),
                 FIELD(solver.warm_start)));
  s.push_back(
      to(choice("solver.adjoint_guess", "zero", {"zero", "terminal", "previous"},
                "the adjoint solve's start where warm start keeps no states: zero, terminal "
                "(lambda_N at every point) or previous (the last adjoint solve's states, as "
                "warm start for the adjoint alone)"),
         FIELD(solver.adjoint_guess)));
  add_mgrit(s, "forward", 2, &SolverConfig::forward);
  add_mgrit(s, "backward", 1, &SolverConfig::backward);

  s.push_back(to(integer("monitor.every", 50, 0,
                         "measure the gradient error against exact serial every this many steps "
                         "(not in serial mode); 0 = never",
                         kAllFamilies, kStepsMax),
                 FIELD(monitor.every)));
  s.push_back(to(integer("monitor.batches", 4, 1,
                         "batches M per measurement (the bias estimate averages over them)",
                         kAllFamilies, kBatchMax),
                 FIELD(monitor.batches)));
  s.push_back(
      to(choice("monitor.precision", "float32", {"float32", "float64"},
                "precision of the check's g and g-hat: float64 computes both on a float64 "
                "copy of the model, so the error's floor is not float32 rounding; the update "
                "still uses the float32 layer-parallel gradient"),
         FIELD(monitor.precision)));

  s.push_back(to(number("control.eta", 0.5, 0, true, 1, true,
                        "adaptive: act when the gradient bias exceeds eta times the gradient"),
                 FIELD(control.eta)));
  s.push_back(to(integer("control.patience", 3, 1,
                         "adaptive: consecutive measurements above eta before acting", kAllFamilies,
                         kItersMax),
                 FIELD(control.patience)));
  s.push_back(
      to(choice("control.action", "serial", {"serial", "raise"},
                "adaptive: go serial, or first raise MGRIT iterations (then serial at the cap "
                "or when a raise does not hold the bias down)"),
         FIELD(control.action)));
  s.push_back(to(choice("control.raise_order", "backward_first", {"backward_first", "both"},
                        "adaptive: a raise adds to the backward count alone while it trails the "
                        "forward one (backward_first), or to both"),
                 FIELD(control.raise_order)));
  s.push_back(to(integer("control.iteration_step", 1, 1, "adaptive: iterations added per raise",
                         kAllFamilies, kItersMax),
                 FIELD(control.iteration_step)));
  s.push_back(to(integer("control.trend_horizon", 50, 0,
                         "adaptive: act when the bias's log-linear trend over the last checks "
                         "projects above eta this many steps ahead; 0 = level rule only",
                         kAllFamilies, kStepsMax),
                 FIELD(control.trend_horizon)));
  s.push_back(to(integer("control.trend_window", 3, 2, "adaptive: checks the trend is fitted over",
                         kAllFamilies, 64),
                 FIELD(control.trend_window)));
  s.push_back(to(number("control.trend_growth", 4, 1, true, kInf, true,
                        "adaptive: least growth of the bias across the trend window for the trend "
                        "to count (guards against noise)"),
                 FIELD(control.trend_growth)));
  s.push_back(to(number("control.trend_floor", 0.01, 0, false, 1, true,
                        "adaptive: the trend counts only once the bias is at least this"),
                 FIELD(control.trend_floor)));
  s.push_back(to(integer("control.recheck", 5, 1,
                         "adaptive: steps after a raise at which the next check judges it",
                         kAllFamilies, kStepsMax),
                 FIELD(control.recheck)));
  s.push_back(to(number("control.raise_gain", 0.5, 0, true, 1, false,
                        "adaptive: a raise helped when it cut the bias to at most this fraction; "
                        "otherwise switch to serial"),
                 FIELD(control.raise_gain)));
  s.push_back(to(number("control.alarm_growth", 10, 0, false, kInf, true,
                        "adaptive: check early when a solve's relative residual grows this many "
                        "times over its value at the last check; 0 = off (values in (0, 1] are "
                        "rejected)"),
                 FIELD(control.alarm_growth)));
  s.push_back(to(integer("control.max_forward_iterations", 8, 1,
                         "adaptive: cap of forward iterations before switching to serial",
                         kAllFamilies, kItersMax),
                 FIELD(control.max_forward_iterations)));
  s.push_back(to(integer("control.max_backward_iterations", 8, 1,
                         "adaptive: cap of backward iterations before switching to serial",
                         kAllFamilies, kItersMax),
                 FIELD(control.max_backward_iterations)));
  s.push_back(
      to(string("control.cost_model", "",
                "adaptive: hardware profile (name or path) with which the performance model "
                "checks that raised iterations still beat serial; empty = off"),
         FIELD(control.cost_model)));
  s.push_back(to(integer("control.cost_ranks", 0, 0,
                         "adaptive: ranks the cost model assumes; 0 = the run's MPI ranks",
                         kAllFamilies, kRanksMax),
                 FIELD(control.cost_ranks)));

  s.push_back(to(string("output.file", "run.h5", "HDF5 run record path"), FIELD(output.file)));
  s.push_back(to(string("output.checkpoint", "", "checkpoint path; empty = no checkpoints"),
                 FIELD(output.checkpoint)));
  s.push_back(
      to(integer("output.checkpoint_every", 0, 0,
                 "checkpoint every this many steps; 0 = only at the end", kAllFamilies, kStepsMax),
         FIELD(output.checkpoint_every)));
  s.push_back(to(make("output.keep_checkpoints", Kind::boolean, false,
                      "also keep each checkpoint as <checkpoint>.step<N>.h5 (weights along "
                      "training, to replay with train.init_from); false = only the latest"),
                 FIELD(output.keep_checkpoints)));
  s.push_back(to(make("output.overwrite", Kind::boolean, false,
                      "let output.file / output.checkpoint replace an existing HDF5 file that is "
                      "not an lpt record / checkpoint (lpt never replaces other files)"),
                 FIELD(output.overwrite)));
  s.push_back(to(integer("output.log_every", 10, 1, "progress line every this many steps",
                         kAllFamilies, kStepsMax),
                 FIELD(output.log_every)));
  return s;
}

#undef FIELD

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
      {"grad_clip", "train.clip"},   {"gradient_accumulation_steps", "train.accumulate"},
      {"accumulation_steps", "train.accumulate"},
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
