#include "adaptive/solver_config.hpp"

namespace lpt {

const char* to_string(SolverMode m) {
  switch (m) {
    case SolverMode::serial: return "serial";
    case SolverMode::parallel: return "parallel";
    case SolverMode::serial_forward: return "serial_forward";
    case SolverMode::adaptive: return "adaptive";
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

}  // namespace lpt
