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

#include "adaptive/controller.hpp"
#include "adaptive/solver_config.hpp"
#include "model/model_config.hpp"
#include "util/family.hpp"

namespace lpt {

enum class Schedule { constant, cosine, linear };
enum class OptimizerKind { adamw, sgd };
// Precision of the gradient monitor's g and ĝ (monitor.precision; docs/controller.md).
enum class MonitorPrecision { float32, float64 };

const char* to_string(Schedule s);
const char* to_string(OptimizerKind o);
const char* to_string(MonitorPrecision p);

// The typed sections. Defaults, ranges and meanings live once, in the key table
// (train/config_schema.cpp), whose rows also name the field each key fills; the fields here start
// value-initialized, and a RunConfig comes only from resolve_config(). A key that does not apply
// to the family (model.patch for a GPT) leaves its field at zero.
//
// The model's sizes are the model's own ModelConfig (model/model_config.hpp), with the config's
// readings of three fields: vocab 0 = the tokenizer's size (the tasks resolve it, and
// src_vocab/tgt_vocab, once the data is read), d_ff 0 in the JSON = 4 * d_model (resolved here),
// h resolved from step_size. The JSON keys seq_len, src_len, tgt_len and image [C, H, W] fill
// max_len, src_max_len, tgt_max_len and channels/image_h/image_w.
struct ModelSection : ModelConfig {
  Family family{};
  std::string step_size;  // as written: a number, or "T/N" (alias "1/N")
  double T{};             // final time when step_size is "T/N"

  // N, the number of ODE steps (layers, or enc_layers + dec_layers for mt).
  int total_layers() const { return family == Family::mt ? enc_layers + dec_layers : layers; }
};

struct DataConfig {
  std::string name;  // english | en_es | fashion_mnist | digits
  std::string dir;
  double val_fraction{};
  std::string tokenizer;  // byte | char (text families) | bpe (translation only)
  int bpe_vocab{};        // bpe: ids per language, specials included
  std::uint64_t seed{};
};

struct TrainConfig {
  long steps{};
  int batch{};
  int accumulate{};  // micro-batches of `batch` per optimizer step
  int data_groups{};  // D: the world's ranks form D groups, each with batch / D of every batch
  double lr{};
  Schedule schedule{};
  long warmup{};
  double min_lr{};
  OptimizerKind optimizer{};
  std::array<double, 2> betas{};
  double eps{};
  double momentum{};
  double weight_decay{};
  double clip{};  // global gradient-norm clip; 0 = off
  std::uint64_t seed{};
  int threads{};      // 0 = OpenMP's default
  long eval_every{};  // 0 = never
  int eval_batches{};
  bool check_memory{};  // refuse a run estimated not to fit (docs/memory.md)
  std::string init_from;  // checkpoint whose parameters start the run ("" = the seed's init)
  std::string init_skip;  // comma-separated name prefixes init_from leaves at the seed's init
};

// Gradient-error measurement (docs/controller.md): every `every` steps, M = `batches` batches.
struct MonitorConfig {
  long every{};  // 0 = never
  int batches{};
  MonitorPrecision precision{};
};

// The adaptive controller's rule (docs/controller.md).
struct ControlConfig {
  double eta{};
  int patience{};
  mgrit::ControlAction action{};
  mgrit::RaiseOrder raise_order{};
  int iteration_step{};
  long trend_horizon{};  // steps; 0 = off
  int trend_window{};    // checks
  double trend_growth{};
  double trend_floor{};
  long recheck{};  // steps after a raise
  double raise_gain{};
  double alarm_growth{};  // 0 = off
  int max_forward_iterations{};
  int max_backward_iterations{};
  std::string cost_model;  // hardware profile; empty = off
  int cost_ranks{};        // 0 = the run's ranks
};

struct OutputConfig {
  std::string file;         // HDF5 run record
  std::string checkpoint;   // empty = no checkpoints
  long checkpoint_every{};  // 0 = only at the end (when checkpoint is set)
  bool keep_checkpoints{};  // also keep each as <checkpoint>.step<N>.h5
  long log_every{};
  bool overwrite{};  // replace an HDF5 file that is not an lpt record / checkpoint
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

}  // namespace lpt
