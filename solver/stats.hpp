#pragma once
// What a solve reports (getters return these) and the monitor interface callers attach.
#include <string>
#include <vector>

namespace lpt::mgrit {

struct IterationRecord {
  int iter = 0;            // 0-based cycle number
  double residual = -1;    // ||r|| over fine C-points; -1 where not computed (skipped down-cycle)
  double conv_factor = -1; // residual / previous residual; -1 where undefined
  double wall = 0;         // seconds since the solve began, at the end of this iteration
};

// Per-rank timers (seconds). With threads, timers inside parallel loops sum over threads.
struct Timers {
  double step = 0;     // forward step evaluations
  double vjp = 0;      // adjoint evaluations (including parameter gradients)
  double vec = 0;      // copies, axpby, norms, allocation
  double pack = 0;     // pack/unpack for messages
  double mpi_wait = 0; // waiting on messages and reductions
  double total = 0;    // the whole solve
};

struct SolveStats {
  bool adjoint = false;
  int iterations = 0;          // cycles done
  bool converged = false;      // a tolerance was met
  bool stopped = false;        // a monitor asked to stop
  double final_residual = -1;  // residual after the final sweep (always computed)
  std::vector<IterationRecord> history;
  std::vector<long> level_steps;  // steps on each level
  std::vector<long> evals;        // step (or VJP) evaluations per level, this rank
  long param_grads = 0;           // parameter-gradient evaluations, this rank
  Timers timers;
  std::vector<long> evals_all_ranks;  // per level, summed over ranks (filled at the end)
  long param_grads_all_ranks = 0;
};

class Monitor {
 public:
  virtual ~Monitor() = default;
  virtual void on_iteration(const SolveStats& s, const IterationRecord& it) {}
  virtual void on_solve_end(const SolveStats& s) {}
  // Asked after each iteration: true ends the cycles (the final sweep still runs). Must give the
  // same answer on every rank; the residual history is identical on all ranks, so a decision
  // made from it is.
  virtual bool wants_stop(const SolveStats& s) { return false; }
};

}  // namespace lpt::mgrit
