// Cost accounting: evaluation counts per level equal the formula of docs/mgrit.md, and on one
// rank the solve time is (evaluations x time of one step) + vector-op time, within 10 %.
#include <gtest/gtest.h>

#include <omp.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "solver/ode_problems.hpp"
#include "solver/solver.hpp"

using namespace lpt::mgrit;

namespace {

// The formula of docs/mgrit.md, written out independently of the solver. n[l]: steps on level l,
// c[l] = n[l+1] complete intervals; fcf[l] whether level l relaxes with FCF.
struct Formula {
  std::vector<long> n;
  std::vector<int> fcf;
  int L() const { return int(n.size()); }
  void relax_restrict(int l, std::vector<long>& e) const {
    e[l] += (1 + fcf[l]) * n[l];
    e[l + 1] += n[l + 1];
  }
  void interp(int lc, std::vector<long>& e) const {
    if (lc < L() - 1) e[lc] += n[lc] - n[lc + 1];
  }
  void cycle(int l, bool fcycle, bool skip, std::vector<long>& e) const {
    if (l == L() - 1) {
      e[l] += n[l];
      return;
    }
    if (!skip) relax_restrict(l, e);
    cycle(l + 1, fcycle, skip, e);
    if (fcycle && l + 1 < L() - 1) cycle(l + 1, false, false, e);
    interp(l + 1, e);
  }
  std::vector<long> solve(int iters, bool fcycle, bool skip) const {
    std::vector<long> e(L(), 0);
    for (int k = 0; k < iters; ++k) cycle(0, fcycle, skip && k == 0, e);
    e[0] += n[0];  // final sweep
    return e;
  }
};

}  // namespace

TEST(MgritCost, EvaluationCountsMatchTheFormula) {
  struct Cfg {
    long N;
    int levels, cf;
    Relax fine, coarse;
    Cycle cyc;
    bool skip;
    int iters;
  };
  const Cfg cfgs[] = {{64, 2, 4, Relax::F, Relax::F, Cycle::V, false, 3},
                      {64, 3, 4, Relax::F, Relax::FCF, Cycle::V, false, 2},
                      {64, 3, 4, Relax::F, Relax::FCF, Cycle::V, true, 2},
                      {100, 4, 3, Relax::FCF, Relax::FCF, Cycle::F, false, 3},
                      {97, 3, 2, Relax::F, Relax::F, Cycle::F, true, 4}};
  for (const auto& c : cfgs) {
    OdeProblem p(OdeKind::cubic, c.N, 1.0, 1.0, 2);
    Solver s(p, c.N);
    s.set_step_size(p.h());
    for (CycleOptions* o : {&s.forward_options(), &s.adjoint_options()}) {
      o->set_max_levels(c.levels);
      o->set_cfactor(c.cf);
      o->set_fine_relax(c.fine);
      o->set_relax(c.coarse);
      o->set_cycle(c.cyc);
      o->set_skip(c.skip);
      o->set_abs_tol(0);
      o->set_max_iter(c.iters);
    }
    const auto fwd = s.solve(*p.make(p.u0().data()));
    const auto adj = s.solve_adjoint(s.final_state());
    Formula f;
    f.n = fwd.level_steps;
    for (int l = 0; l < f.L(); ++l)
      f.fcf.push_back(l < f.L() - 1 && (l == 0 ? c.fine : c.coarse) == Relax::FCF);
    const auto want = f.solve(c.iters, c.cyc == Cycle::F, c.skip);
    EXPECT_EQ(fwd.evals, want) << "N " << c.N << " levels " << c.levels;
    EXPECT_EQ(adj.evals, want) << "adjoint, N " << c.N << " levels " << c.levels;
    EXPECT_EQ(adj.param_grads, c.N);
  }
  // A hand check of the two-level case: per iteration N + 2 N/m, plus the final sweep.
  const Formula two{{64, 16}, {0, 0}};
  EXPECT_EQ(two.solve(3, false, false), (std::vector<long>{256, 96}));
  // Per-level relaxation: FCF on level 1 only of four levels.
  OdeProblem p(OdeKind::cubic, 128, 1.0, 1.0, 2);
  Solver s(p, 128);
  s.set_step_size(p.h());
  auto& o = s.forward_options();
  o.set_max_levels(4);
  o.set_cfactor(2);
  o.set_relax(Relax::F);
  o.set_relax(1, Relax::FCF);
  o.set_abs_tol(0);
  o.set_max_iter(2);
  const auto st = s.solve(*p.make(p.u0().data()));
  EXPECT_EQ(st.evals, (Formula{{128, 64, 32, 16}, {0, 1, 0, 0}}.solve(2, false, false)));
}

// CPU time of this thread: the machine is shared (2 cores, parallel builds), so wall time of a
// single-threaded solve is inflated by whatever else runs; its CPU time is not.
static double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

TEST(MgritCost, SolveTimeIsEvaluationsTimesStepTime) {
  OdeProblem p(OdeKind::cubic, 256, 1.0, 1.0, 4);
  p.set_step_work(20000);
  std::vector<double> u(4, 1.0), v(4);
  auto one_step = [&] {
    double best = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      const double t0 = cpu_now();
      for (int i = 0; i < 200; ++i) p.phi(0, 0.01, u.data(), v.data());
      best = std::min(best, (cpu_now() - t0) / 200);
    }
    return best;
  };
  double best_rel = 1e9;
  for (int rep = 0; rep < 3 && best_rel > 0.10; ++rep) {
    Solver s(p, 256);
    s.set_step_size(p.h());
    s.forward_options().set_cfactor(4);
    s.forward_options().set_max_levels(3);
    s.forward_options().set_abs_tol(0);
    s.forward_options().set_max_iter(3);
    const double t1 = one_step();
    const double c0 = cpu_now();
    const auto st = s.solve(*p.make(p.u0().data()));
    const double solve_cpu = cpu_now() - c0;
    long evals = 0;
    for (long e : st.evals) evals += e;
    const double model = evals * t1 + st.timers.vec;
    best_rel = std::min(best_rel, std::abs(solve_cpu - model) / solve_cpu);
    std::printf("evals %ld, one step %.3g s, model %.4g s, solve %.4g s cpu (%.4g s wall)\n",
                evals, t1, model, solve_cpu, st.timers.total);
  }
  EXPECT_LT(best_rel, 0.10);
}
