#pragma once
// The adaptive controller's cost check (adaptive/controller.hpp, set_cost_oracle): does a
// layer-parallel step at (forward, backward) iterations still beat the serial step? Answered by
// the analytical performance model (perfmodel/step_model.hpp) for the run's model shape on a
// hardware profile and a rank count.
#include <functional>

#include "train/config.hpp"
#include "model/model.hpp"
#include "perfmodel/layer_cost.hpp"
#include "perfmodel/mgrit_cost.hpp"

namespace lpt {

// The perf model's settings for the cycles training runs: both solves' options as the trainer
// builds them (solve_options in layer_parallel_step.hpp), converted by perf::settings_of.
perf::MgritSettings trainer_settings(const RunConfig& cfg);
// The run's model as the perf model describes it; `vocab` is the tokenizer's size (for
// translation the larger of source and target), which the config alone may not know.
perf::ModelShape perf_shape(const RunConfig& cfg, int vocab);

// Null when cfg.control.cost_model is empty. ranks: cfg.control.cost_ranks, or `run_ranks` when
// that is 0. Throws lpt::Error for a profile that cannot be loaded.
std::function<bool(int, int)> make_cost_oracle(const RunConfig& cfg, const ModelConfig& dims,
                                               int run_ranks);

}  // namespace lpt
