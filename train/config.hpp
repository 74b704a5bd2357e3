#pragma once
// Run configuration for `lpt train --config FILE.json [--set key=value ...]`.
//
// A config is JSON with the sections model, data, train, solver, monitor, control, output (every key documented in
// docs/config.md, defaults in experiments/configs/defaults.json). resolve_config() merges the
// user's JSON and the --set overrides onto the defaults, rejects unknown keys (naming the nearest
// valid one), wrong types and impossible values with the key's full path, and returns both a typed
// struct and the resolved JSON (which is itself a valid config: it is what the run record stores
// and what a resumed run reloads).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adaptive/solver_config.hpp"
#include "util/family.hpp"

namespace lpt {

enum class Schedule { constant, cosine, linear };
enum class OptimizerKind { adamw, sgd };
// Precision of the gradient monitor's g and ĝ (monitor.precision; docs/controller.md).
enum class MonitorPrecision { float32, float64 };

const char* to_string(Schedule s);
const char* to_string(OptimizerKind o);
const char* to_string(MonitorPrecision p);

struct ModelSection {
  Family family = Family::gpt;
  int layers = 4;      // gpt, bert, vit
  int enc_layers = 3;  // mt
  int dec_layers = 3;  // mt
  int d_model = 128;
  int heads = 4;
  int d_ff = 512;      // resolved: 0 in the JSON means 4 * d_model
  int seq_len = 64;    // gpt, bert
  int src_len = 64;    // mt
  int tgt_len = 64;    // mt
  int vocab = 0;       // 0: taken from the tokenizer
  double dropout = 0.0;
  std::string step_size = "1";  // as written: a number, or "T/N" (alias "1/N")
  double T = 1.0;               // final time when step_size is "T/N"
  double h = 1.0;               // the resolved ODE step size
  int patch = 7;                       // vit
  std::array<int, 3> image{1, 28, 28};  // vit: [C, H, W]
  int n_classes = 10;                  // vit
  double label_smoothing = 0.0;

  // N, the number of ODE steps (layers, or enc_layers + dec_layers for mt).
  int total_layers() const { return family == Family::mt ? enc_layers + dec_layers : layers; }
};

struct DataConfig {
  std::string name = "english";  // english | en_es | fashion_mnist | digits
  std::string dir = "data";
  double val_fraction = 0.1;
  std::string tokenizer = "byte";  // byte | char (text families only)
  std::uint64_t seed = 1;
};

struct TrainConfig {
  long steps = 1500;
  int batch = 16;
  double lr = 1e-3;
  Schedule schedule = Schedule::cosine;
  long warmup = 100;
  double min_lr = 1e-4;
  OptimizerKind optimizer = OptimizerKind::adamw;
  std::array<double, 2> betas{0.9, 0.95};
  double eps = 1e-8;
  double momentum = 0.9;
  double weight_decay = 0.01;
  double clip = 1.0;  // global gradient-norm clip; 0 = off
  std::uint64_t seed = 1;
  int threads = 0;    // 0 = OpenMP's default
  long eval_every = 100;  // 0 = never
  int eval_batches = 10;
  bool check_memory = true;  // refuse a run estimated not to fit (docs/memory.md)
};

// Gradient-error measurement (docs/controller.md): every `every` steps, M = `batches` batches.
struct MonitorConfig {
  long every = 50;  // 0 = never
  int batches = 4;
  MonitorPrecision precision = MonitorPrecision::float32;
};

// The adaptive controller's rule (docs/controller.md).
struct ControlConfig {
  double eta = 0.5;
  int patience = 3;
  std::string action = "serial";  // serial | raise
  std::string raise_order = "backward_first";  // backward_first | both
  int iteration_step = 1;
  long trend_horizon = 50;  // steps; 0 = off
  int trend_window = 3;     // checks
  double trend_growth = 4;
  double trend_floor = 0.01;
  long recheck = 5;         // steps after a raise
  double raise_gain = 0.5;
  double alarm_growth = 10;  // 0 = off
  int max_forward_iterations = 8;
  int max_backward_iterations = 8;
  std::string cost_model;  // hardware profile; empty = off
  int cost_ranks = 0;      // 0 = the run's ranks
};

struct OutputConfig {
  std::string file = "run.h5";  // HDF5 run record
  std::string checkpoint;       // empty = no checkpoints
  long checkpoint_every = 0;    // 0 = only at the end (when checkpoint is set)
  long log_every = 10;
  bool overwrite = false;  // replace an HDF5 file that is not an lpt record / checkpoint
};

struct RunConfig {
  std::string description;
  ModelSection model;
  DataConfig data;
  TrainConfig train;
  SolverConfig solver;
  MonitorConfig monitor;
  ControlConfig control;
  OutputConfig output;
  nlohmann::json resolved;  // the full config after defaults and overrides

  std::string resolved_string() const { return resolved.dump(2); }
};

// Merges `user` (a JSON object) and the `--set key=value` overrides onto the defaults and
// validates everything. Throws lpt::Error naming the key's full path on any problem.
RunConfig resolve_config(const nlohmann::json& user, const std::vector<std::string>& sets = {});

// JSON text -> value, for config files and --set values. Rejects, naming `source`: nesting deeper
// than kMaxJsonDepth (checked while parsing, so nothing recursive ever sees a deeper value), NUL
// bytes, invalid UTF-8 and numbers beyond double's range. Comments are allowed.
constexpr int kMaxJsonDepth = 64;
nlohmann::json parse_config_json(const std::string& text, const std::string& source);

// Reads FILE (JSON) and resolves it; the file name is part of every error message.
RunConfig load_config(const std::string& file, const std::vector<std::string>& sets = {});

// The defaults for a family, as a complete resolved JSON config.
nlohmann::json default_config(Family family = Family::gpt);

// Applies one "key=value" override to a user JSON object (value parsed as JSON, falling back to a
// plain string). Unknown keys are rejected with the nearest valid key.
void apply_set(nlohmann::json& user, const std::string& assignment);

// The config of a run: FILE (JSON; resolved as load_config does) or, when `file` is empty, the
// built-in defaults, with the `--set key=value` overrides applied. The command line that names
// them is parsed in experiments/ (cli.hpp).
RunConfig config_from(const std::string& file, const std::vector<std::string>& sets = {});

// One line per key ("model.d_model  int  128  width of the residual stream"), for --help.
std::string config_reference();

}  // namespace lpt
