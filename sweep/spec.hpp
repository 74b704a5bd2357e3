#pragma once
// The sweep spec of `lpt sweep SPEC.json` (docs/sweep.md): a base config (file + --set overrides)
// and axes over any config keys, expanded into points, each one `lpt train` run with its own
// record named from its values.
//
//   {"base": "experiments/configs/gpt_default.json",      // optional; default: built-in defaults
//    "set": {"train.steps": 40, "train.eval_every": 10},  // optional: applied to every point
//    "axes": [{"grid":   {"model.layers": [2, 4], "train.lr": [1e-3, 3e-3]}},
//             {"zip":    {"solver.mode": ["serial", "parallel"], "monitor.every": [0, 10]}},
//             {"points": [{"model.d_model": 64, "model.heads": 2}, {"model.d_model": 128}]},
//             {"grid":   {"train.seed": [1, 2, 3]}}],
//    "names": {"solver.mode": "mode"},                     // optional: short names in point names
//    "out": "runs/sweeps/x", "jobs": 2, "mpi": 2,         // optional; the command line overrides
//    "sizes": {"quick": {"set": {"train.steps": 300}},   // optional: `--size quick` lays one over
//              "full": {"set": {...}, "axes": [...]}}}   // the spec (set merged, others replaced;
//                                                        // out gets "/quick" unless it sets one)
//
// Each block gives rows of values (grid: the product of its lists, first key outermost; zip: the
// i-th value of every list; points: one row per object); the points are the product of the
// blocks' rows, first block outermost.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/config.hpp"

namespace lpt {

struct SweepBlock {
  std::string kind;                             // "grid", "zip" or "points"
  std::vector<std::string> keys;                // config keys the block sets, in order written
  std::vector<std::vector<nlohmann::json>> rows;  // per row, one value per key (null: not set)
};

struct SweepSpec {
  std::string source;       // the file (for messages); "" when parsed from text
  std::string base;         // base config file; "" = built-in defaults
  std::vector<std::pair<std::string, nlohmann::json>> set;  // applied to every point, in order
  std::vector<SweepBlock> blocks;
  std::map<std::string, std::string> names;  // axis key -> short name in point names
  std::string out;          // output directory ("" = not given)
  int jobs = 0;             // 0 = not given
  int mpi = 0;              // 0 = not given
  std::string description;
  std::string size;         // the size laid over it ("" = none)
  nlohmann::json raw;       // the spec as read, with its size applied
};

struct SweepPoint {
  std::string name;  // "layers=2_lr=0.001_seed=1": file stem of its record and log
  std::vector<std::pair<std::string, nlohmann::json>> values;  // the axis values it sets, in order
};

// Parses and checks a spec (structure only; the configs are checked by resolve_point). Throws
// lpt::Error naming `source` and the offending part.
// `size` picks one of the spec's "sizes" (a spec with sizes needs one; one without refuses one).
SweepSpec parse_sweep_spec(const std::string& text, const std::string& source,
                           const std::string& size = "");
SweepSpec load_sweep_spec(const std::string& file, const std::string& size = "");

// The axis keys in order of first appearance (the summary's axis columns).
std::vector<std::string> sweep_axis_keys(const SweepSpec& spec);

// Every point, in order, named (names are unique; a collision is an error naming both points).
std::vector<SweepPoint> expand_sweep(const SweepSpec& spec);

// A value as `--set` takes it (JSON text; strings quoted) and as a name takes it (strings bare).
std::string set_text(const std::string& key, const nlohmann::json& value);
std::string value_label(const nlohmann::json& value);

// The point's record, log and checkpoint in the output directory.
std::string point_record(const std::string& dir, const SweepPoint& p);
std::string point_log(const std::string& dir, const SweepPoint& p);
std::string point_checkpoint(const std::string& dir, const SweepPoint& p);

// The `--set key=value` list of a point: the spec's `set`, the point's values, then output.file
// (and output.checkpoint: the point's own when the base config checkpoints, else none).
std::vector<std::string> point_sets(const SweepSpec& spec, const SweepPoint& p,
                                    const std::string& dir);

// The point's config, resolved and validated as `lpt train` will (errors name the point).
RunConfig resolve_point(const SweepSpec& spec, const SweepPoint& p, const std::string& dir);

}  // namespace lpt
