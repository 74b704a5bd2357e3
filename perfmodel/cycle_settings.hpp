#pragma once
// The one conversion between the solver's cycle options (solver/options.hpp: what training and
// the schedule simulator run) and the perf model's MGRIT settings (perfmodel/mgrit_cost.hpp:
// what the model prices), both ways, so that a prediction describes the cycle that runs.
#include "perfmodel/mgrit_cost.hpp"
#include "solver/options.hpp"

namespace lpt::perf {

// Levels, cfactor and relaxation per level, skip and iterations of the forward solve `fwd`;
// the adjoint's cycle from `bwd` where it differs, and its iteration count. store_tapes stays
// false (lpt's adjoint replays each fine step's forward).
MgritSettings settings_of(const mgrit::CycleOptions& fwd, const mgrit::CycleOptions& bwd);

// The solver options of one solve of `s` (the adjoint's cycle when `adjoint`) with a fixed
// number of cycles: tolerances off.
mgrit::CycleOptions cycle_options(const MgritSettings& s, bool adjoint, int iterations);

}  // namespace lpt::perf
