#pragma once
// Schedule simulator: the MGRIT solver's own Core (solver/core.hpp) runs once per virtual rank on
// a simulated Comm with a stateless App, and reports every step evaluation, vector operation,
// message and reduction it performs through a Trace. The per-rank event lists are then replayed
// with costs (step time per level and layer, vector-op time, α + bytes/β per message, a
// recursive-doubling allreduce), honouring message and reduction dependencies, to give the
// makespan and each rank's busy and idle time. No schedule is described twice: change the cycle
// in solver/core.cpp and the simulator follows. See docs/perfmodel.md §5.
#include <functional>
#include <vector>

#include "perfmodel/mgrit_cost.hpp"
#include "perfmodel/step_model.hpp"

namespace lpt::perf {

struct SimCosts {
  // Seconds of one evaluation on `level` using the parameters of fine `layer` (forward layer
  // index, also for the adjoint); `final`: the final level-0 sweep.
  std::function<double(bool adjoint, int level, long layer, bool final)> step;
  double vector_op_s = 0;  // one copy / axpby / norm / pack over one state
  Network net;             // messages between ranks (net.message_bytes = one state)
};

struct SimSolve {
  double makespan = 0;             // s, from the common start to the last rank's end
  std::vector<double> busy;        // per rank: steps and vector operations, s
  std::vector<double> idle;        // per rank: makespan - busy (waiting, messages, reductions)
  std::vector<long> evals;         // step evaluations per level, all ranks
  long messages = 0, reductions = 0;
  double work() const;             // sum of busy over ranks
};

class ScheduleSimulator {
 public:
  // Throws lpt::Error when (N, settings) has no hierarchy or P exceeds its fine intervals (the
  // solver cannot split it; the analytical model then leaves the extra ranks idle).
  ScheduleSimulator(int N, int P, const MgritSettings& s);
  // One solve, forward or adjoint, with `iterations` cycles (tolerances off).
  SimSolve run(bool adjoint, int iterations, const SimCosts& c) const;

 private:
  int n_, p_;
  MgritSettings s_;
};

// The step costs of a StepModel as SimCosts: forward steps, adjoint steps (state VJP plus the
// forward replay unless settings.store_tapes keeps level-0 tapes, plus the parameter gradient in
// the final sweep), the model's vector-op time and network. The costs refer to m's step costs:
// use them while m lives.
SimCosts sim_costs(const StepModel& m, const MgritSettings& s);

struct SimulatedStep {
  SimSolve forward, adjoint;
  double total = 0;    // the model's step with forward solve, adjoint solve and gradient sweep
                       // replaced by the replayed makespans
  double speedup = 0;  // serial step / total
};
SimulatedStep simulate_step(const StepModel& m, int ranks, const MgritSettings& s);

}  // namespace lpt::perf
