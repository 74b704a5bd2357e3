#pragma once
// Writes a solve's per-iteration record to HDF5 (serial HDF5; the caller lets rank 0 write).
// Layout: group /<name> with datasets iteration (int), residual, conv_factor, wall (double) and
// evals_per_level (long), attributes iterations, converged, final_residual and the timers.
#include <string>

#include "solver/stats.hpp"

namespace lpt::mgrit {

// Creates (truncate = true) or opens the file and adds group `name`.
void write_history_h5(const std::string& path, const std::string& name, const SolveStats& s,
                      bool truncate);

}  // namespace lpt::mgrit
