// Adjoint MGRIT: converged gradients equal serial back-propagation; each layer's parameter
// gradient is taken exactly once; tapes are offered only where the forward kept them.
#include <gtest/gtest.h>

#include <cmath>

#include "solver/ode_problems.hpp"
#include "solver/solver.hpp"

using namespace lpt::mgrit;

namespace {

struct Case {
  OdeKind kind;
  bool beuler;
  long steps;
  int levels, cf;
  Relax fine;
  Cycle cycle;
};

}  // namespace

TEST(MgritAdjoint, ConvergedGradientsEqualSerialBackprop) {
  const Case cases[] = {
      {OdeKind::dahlquist, false, 256, 2, 4, Relax::F, Cycle::V},
      {OdeKind::dahlquist, true, 128, 3, 2, Relax::FCF, Cycle::F},
      {OdeKind::oscillator, false, 243, 3, 3, Relax::F, Cycle::V},
      {OdeKind::cubic, false, 200, 3, 4, Relax::FCF, Cycle::V},
      {OdeKind::cubic, false, 66, 4, 2, Relax::F, Cycle::F},
  };
  for (const auto& c : cases) {
    OdeProblem p(c.kind, c.steps, 2.0, c.kind == OdeKind::oscillator ? 0.4 : -0.8, 3, c.beuler);
    if (c.kind == OdeKind::cubic) p.theta().assign(c.steps, 0.8);
    for (long n = 0; n < c.steps; ++n) p.theta()[n] *= 1.0 + 0.1 * std::sin(0.3 * n);
    Solver s(p, c.steps);
    s.set_step_size(p.h());
    for (CycleOptions* o : {&s.forward_options(), &s.adjoint_options()}) {
      o->set_max_levels(c.levels);
      o->set_cfactor(c.cf);
      o->set_fine_relax(c.fine);
      o->set_cycle(c.cycle);
      o->set_abs_tol(1e-14);
      o->set_max_iter(100);
    }
    s.solve(*p.make(p.u0().data()));
    const auto& st = s.solve_adjoint(s.final_state());
    EXPECT_TRUE(st.converged);
    EXPECT_EQ(st.param_grads, c.steps);  // one parameter gradient per layer

    OdeProblem::Traj lam;
    std::vector<double> dref;
    p.serial_adjoint(p.serial_forward(), &lam, &dref);
    double e = 0;
    for (long n = 0; n < c.steps; ++n) e = std::max(e, std::fabs(p.dtheta()[n] - dref[n]));
    EXPECT_LT(e, 1e-10) << "steps " << c.steps << " levels " << c.levels;
    for (std::size_t i = 0; i < lam[0].size(); ++i)
      EXPECT_NEAR(flat<double>(*s.gradient_u0()).v[i], lam[0][i], 1e-10);
  }
}

// With a fixed small iteration count (training), gradients are inexact but every layer still
// gets exactly one parameter-gradient call, and more iterations bring them closer.
TEST(MgritAdjoint, InexactGradientsImproveWithIterations) {
  double prev = 1e300;
  for (int it : {1, 2, 4, 8}) {
    OdeProblem p(OdeKind::cubic, 128, 3.0, 1.0, 2);
    Solver s(p, 128);
    s.set_step_size(p.h());
    s.forward_options().set_cfactor(4);
    s.forward_options().set_abs_tol(1e-14);
    s.forward_options().set_max_iter(50);
    s.adjoint_options().set_cfactor(4);
    s.adjoint_options().set_abs_tol(0);
    s.adjoint_options().set_max_iter(it);
    s.solve(*p.make(p.u0().data()));
    const auto& st = s.solve_adjoint(s.final_state());
    EXPECT_EQ(st.param_grads, 128);
    OdeProblem::Traj lam;
    std::vector<double> dref;
    p.serial_adjoint(p.serial_forward(), &lam, &dref);
    double e = 0;
    for (long n = 0; n < 128; ++n) e += std::pow(p.dtheta()[n] - dref[n], 2);
    e = std::sqrt(e);
    EXPECT_LT(e, prev) << it << " iterations";
    prev = e;
  }
}

// The app is told which adjoint steps may reuse the tape of the forward's final sweep.
TEST(MgritAdjoint, TapeFlagsMatchTheFinalForwardSweep) {
  const long N = 48;
  std::vector<int> taped(N, 0), used(N, 0), bad(1, 0);
  FlatApp<double> app(
      1,
      [&](const StepInfo& s, const double* u, double* out) {
        out[0] = u[0] * (1.0 - 0.5 * s.h);
        if (s.keep_tape) ++taped[s.layer];
      },
      [&](const StepInfo& s, const double*, const double* lam, double* lam_out, bool grad) {
        if (lam_out) lam_out[0] = lam[0] * (1.0 - 0.5 * s.h);
        if (s.level == 0 && !s.tape_valid) ++bad[0];
        if (s.level > 0 && s.tape_valid) ++bad[0];
        if (grad) ++used[s.layer];
      });
  Solver s(app, N);
  s.set_step_size(1.0 / N);
  s.forward_options().set_max_iter(2);
  s.adjoint_options().set_max_iter(1);
  double one = 1.0;
  s.solve(*app.make(&one));
  s.solve_adjoint(s.final_state());
  for (long n = 0; n < N; ++n) {
    EXPECT_EQ(taped[n], 1) << n;
    EXPECT_EQ(used[n], 1) << n;
  }
  EXPECT_EQ(bad[0], 0);
}

// Warm start of the adjoint: the previous λ states are the initial guess of the next solve.
TEST(MgritAdjoint, WarmStartNeedsFewerIterations) {
  OdeProblem p(OdeKind::cubic, 256, 2.0, 1.0, 2);
  Solver s(p, 256);
  s.set_step_size(p.h());
  s.set_warm_start(true);
  for (CycleOptions* o : {&s.forward_options(), &s.adjoint_options()}) {
    o->set_cfactor(4);
    o->set_max_levels(3);
    o->set_abs_tol(1e-11);
    o->set_max_iter(50);
  }
  s.solve(*p.make(p.u0().data()));
  const int cold = s.solve_adjoint(s.final_state()).iterations;
  for (auto& t : p.theta()) t *= 1.01;
  s.solve(*p.make(p.u0().data()));
  const int warm = s.solve_adjoint(s.final_state()).iterations;
  EXPECT_LT(warm, cold);
}
