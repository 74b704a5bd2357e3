#include "adaptive/solver_config.hpp"

namespace lpt {

const char* to_string(SolverMode m) {
  switch (m) {
    case SolverMode::serial: return "serial";
    case SolverMode::parallel: return "parallel";
    case SolverMode::serial_forward: return "serial_forward";
    case SolverMode::adaptive: return "adaptive";
    case SolverMode::pipeline: return "pipeline";
  }
  return "?";
}
const char* to_string(PipelineSchedule s) {
  switch (s) {
    case PipelineSchedule::one_f_one_b: return "1f1b";
    case PipelineSchedule::gpipe: return "gpipe";
  }
  return "?";
}
const char* to_string(AdjointGuess g) {
  switch (g) {
    case AdjointGuess::zero: return "zero";
    case AdjointGuess::terminal: return "terminal";
    case AdjointGuess::previous: return "previous";
  }
  return "?";
}

SolverConfig exact_solver(SolverConfig s) {
  for (MgritConfig* g : {&s.forward, &s.backward}) {
    g->levels = 1;
    g->iterations = 1;
    g->skip = false;
  }
  s.warm_start = false;
  s.adjoint_guess = AdjointGuess::zero;
  return s;
}

}  // namespace lpt
