#include "solver/app.hpp"

#include "util/error.hpp"

namespace lpt::mgrit {

void App::backward(const StepInfo&, const Vector&, const Vector&, Vector*, bool) {
  fail("this MGRIT application has no adjoint; override App::backward (or give FlatApp a "
       "backward callback) before calling Solver::solve_adjoint");
}

}  // namespace lpt::mgrit
