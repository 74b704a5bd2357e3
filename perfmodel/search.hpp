#pragma once
// Best MGRIT settings for a given depth N and rank count P: an exhaustive search over a grid of
// (levels, cfactor) with iteration counts either fixed by the user or derived from a table of
// measured convergence factors and a tolerance.
#include <optional>
#include <string>
#include <vector>

#include "perfmodel/step_model.hpp"

namespace lpt::perf {

// Measured residual reduction per iteration, per (levels, cfactor), for the forward and the
// adjoint solve.
struct ConvergenceEntry {
  int levels = 2, cfactor = 4;
  double rho_fwd = 0, rho_bwd = 0;
};

class ConvergenceTable {
 public:
  void add(const ConvergenceEntry& e);
  void set_tolerance(double tol) { tol_ = tol; }
  void set_max_iters(int k) { max_iters_ = k; }
  // Iterations to bring the residual below tol relative to the first iteration's residual:
  // k = 1 + ceil(log tol / log rho), at most max_iters; nullopt when (levels, cfactor) is absent.
  std::optional<std::pair<int, int>> iterations(int levels, int cfactor) const;
  static int iterations_for(double rho, double tol, int max_iters);
  const std::vector<ConvergenceEntry>& entries() const { return entries_; }

 private:
  std::vector<ConvergenceEntry> entries_;
  double tol_ = 1e-2;
  int max_iters_ = 10;
};
// {"tolerance": 1e-2, "max_iters": 10, "entries": [{"levels":2,"cfactor":4,"rho_fwd":0.1,
// "rho_bwd":0.2}, ...]}
ConvergenceTable load_convergence_table(const std::string& path);

struct SearchGrid {
  std::vector<int> levels = {1, 2, 3, 4, 5, 6};
  std::vector<int> cfactors = {2, 4, 8, 16};
  int fwd_iters = 2, bwd_iters = 1;              // used when no table is given
  const ConvergenceTable* table = nullptr;       // overrides the fixed counts
  std::vector<Relax> relax;                      // as MgritSettings::relax
  bool store_tapes = false;
  bool require_fit = false;  // skip settings whose memory per rank exceeds the profile's
  // One setting instead of the grid (levels, cfactors, relax and iteration counts above are then
  // unused): the cycle a run config trains with (lpt predict --config).
  std::optional<MgritSettings> fixed;
};

struct SearchResult {
  Prediction best;
  std::vector<Prediction> tried;  // every grid point that gave a usable hierarchy
  int skipped = 0;                // grid points without a hierarchy, table entry or memory fit
};

// Throws lpt::Error when no grid point is usable.
SearchResult search_best(const StepModel& model, int ranks, const SearchGrid& grid);

}  // namespace lpt::perf
