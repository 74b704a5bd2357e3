#pragma once
// A training checkpoint: everything a resumed run needs to continue bit-identically — the
// resolved config, the parameters under their documented names (docs/parameters.md), the
// optimizer state, the step, the data loader's position and RNG, the tokenizers, and how many
// rows of the run record belong to the steps before it. Layout: docs/records.md ("Checkpoint
// files").
// Written atomically (util/checkpoint_io.hpp): a crash never leaves a half-written file.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adaptive/param_shards.hpp"
#include "optim/optim.hpp"
#include "model/params.hpp"

namespace lpt {

struct RunState {
  std::int64_t step = 0;  // optimizer steps completed
  std::vector<std::uint64_t> data_state;
  std::map<std::string, std::int64_t> record_rows;  // dataset path -> rows at this step
  std::vector<double> control;  // the adaptive controller's state (empty: none saved)
};

// Every rank of the (first) group calls; rank 0 of `shards` writes, gathering each tensor and
// its optimizer state from its owner. One file, the same whatever P wrote it.
void save_checkpoint(const std::string& path, const std::string& resolved_config,
                     const nlohmann::json& tokenizers, const ParamStore<float>& params,
                     const Optimizer<float>& opt, const RunState& state,
                     const ParamShards& shards);

// The resolved config stored in a checkpoint (to rebuild the run before load_checkpoint).
std::string checkpoint_config(const std::string& path);

// Restores parameters and optimizer state into objects built from the checkpoint's config: the
// tensors this rank holds and the state of those it owns (every rank reads its own part).
RunState load_checkpoint(const std::string& path, ParamStore<float>& params,
                         Optimizer<float>& opt);

// Fine-tuning and replay: the parameters of a checkpoint (of another run, perhaps another task)
// into a freshly initialized model; nothing else of the checkpoint (optimizer, step, data) is
// used. Tensors whose names start with one of `skip` keep their values. Every other tensor must
// be in the checkpoint with its shape; otherwise the error names the tensor and the fix. Every
// rank checks every tensor's name and shape (so that all ranks fail alike) and reads those it
// holds.
struct InitFromReport {
  std::size_t loaded = 0;   // tensors of the whole model read from the checkpoint
  std::vector<std::string> skipped;  // kept at their initialization, in registration order
  long long checkpoint_step = 0;
};
InitFromReport init_from_checkpoint(const std::string& path, ParamStore<float>& params,
                                    const std::vector<std::string>& skip);

// "a.,b" -> {"a.", "b"}: the prefixes of train.init_skip (blanks around commas dropped).
std::vector<std::string> split_prefixes(const std::string& list);

}  // namespace lpt
