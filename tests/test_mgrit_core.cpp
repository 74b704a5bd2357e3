// Forward MGRIT: exactness, agreement with serial stepping, options, threads, storage.
#include <gtest/gtest.h>

#include <cmath>

#include "solver/ode_problems.hpp"
#include "solver/solver.hpp"
#include "util/error.hpp"

using namespace lpt::mgrit;

namespace {

double max_err(const Solver& s, const OdeProblem::Traj& ref, long stride = 1) {
  double e = 0;
  for (long n = 0; n <= s.steps(); n += stride) {
    const Vector* v = s.state(n);
    if (!v) continue;
    for (std::size_t i = 0; i < ref[n].size(); ++i)
      e = std::max(e, std::fabs(flat<double>(*v).v[i] - ref[n][i]));
  }
  return e;
}

struct Config {
  OdeKind kind;
  bool beuler;
  int levels, cf;
  Relax fine, coarse;
  Cycle cycle;
  bool skip;
  long steps;
};

}  // namespace

TEST(MgritForward, ConvergedEqualsSerialStepping) {
  const Config cfgs[] = {
      {OdeKind::dahlquist, false, 2, 4, Relax::F, Relax::FCF, Cycle::V, false, 256},
      {OdeKind::dahlquist, true, 3, 4, Relax::FCF, Relax::FCF, Cycle::V, true, 1024},
      {OdeKind::dahlquist, false, 4, 2, Relax::F, Relax::F, Cycle::F, false, 200},
      {OdeKind::oscillator, false, 3, 3, Relax::F, Relax::FCF, Cycle::V, true, 243},
      {OdeKind::cubic, false, 3, 4, Relax::FCF, Relax::FCF, Cycle::F, false, 130},
      {OdeKind::cubic, false, 5, 2, Relax::F, Relax::FCF, Cycle::V, false, 97},
  };
  for (const auto& c : cfgs) {
    const double theta = c.kind == OdeKind::dahlquist ? -1.0 : c.kind == OdeKind::oscillator ? 0.3 : 1.0;
    OdeProblem p(c.kind, c.steps, 2.0, theta, 3, c.beuler);
    p.set_guess_value(0.5);
    Solver s(p, c.steps);
    s.set_step_size(p.h());
    auto& o = s.forward_options();
    o.set_max_levels(c.levels);
    o.set_cfactor(c.cf);
    o.set_fine_relax(c.fine);
    o.set_relax(c.coarse);
    o.set_cycle(c.cycle);
    o.set_skip(c.skip);
    o.set_abs_tol(1e-13);
    o.set_max_iter(100);
    const auto& st = s.solve(*p.make(p.u0().data()));
    EXPECT_TRUE(st.converged) << "levels " << c.levels << " cf " << c.cf;
    EXPECT_LT(max_err(s, p.serial_forward()), 1e-12) << "levels " << c.levels << " cf " << c.cf;
    EXPECT_LT(st.final_residual, 1e-12);
  }
}

// Two-level F-relaxation is Parareal: after k iterations the first k coarse points are exact;
// with FCF about 2k. The next point must still be wrong, or the test proves nothing.
TEST(MgritForward, TwoLevelExactnessProperty) {
  const long N = 64;
  const int m = 4;
  for (Relax r : {Relax::F, Relax::FCF}) {
    for (int k = 1; k <= 5; ++k) {
      OdeProblem p(OdeKind::cubic, N, 4.0, 1.0, 2);
      Solver s(p, N);
      s.set_step_size(p.h());
      auto& o = s.forward_options();
      o.set_max_levels(2);
      o.set_cfactor(m);
      o.set_fine_relax(r);
      o.set_abs_tol(0);
      o.set_max_iter(k);
      s.solve(*p.make(p.u0().data()));
      const auto ref = p.serial_forward();
      const int exact = r == Relax::F ? k : 2 * k;
      for (int i = 1; i <= exact + 1 && i * m <= N; ++i) {
        const double e = std::fabs(flat<double>(*s.state(i * m)).v[0] - ref[i * m][0]);
        if (i <= exact)
          EXPECT_LT(e, 1e-14) << to_string(r) << " k=" << k << " point " << i;
        else
          EXPECT_GT(e, 1e-12) << to_string(r) << " k=" << k << " point " << i;
      }
    }
  }
}

// With skip, iteration 0 only propagates on the coarse grid: one exact point fewer.
TEST(MgritForward, SkipCostsOneExactPoint) {
  const long N = 64;
  for (int k = 1; k <= 4; ++k) {
    OdeProblem p(OdeKind::cubic, N, 4.0, 1.0, 2);
    Solver s(p, N);
    s.set_step_size(p.h());
    auto& o = s.forward_options();
    o.set_cfactor(4);
    o.set_skip(true);
    o.set_abs_tol(0);
    o.set_max_iter(k);
    const auto& st = s.solve(*p.make(p.u0().data()));
    EXPECT_LT(st.history[0].residual, 0);  // not available
    const auto ref = p.serial_forward();
    for (int i = 1; i <= k; ++i) {
      const double e = std::fabs(flat<double>(*s.state(i * 4)).v[0] - ref[i * 4][0]);
      if (i <= k - 1)
        EXPECT_LT(e, 1e-14) << "k=" << k << " point " << i;
      else
        EXPECT_GT(e, 1e-12) << "k=" << k << " point " << i;
    }
  }
}

// A monitor (the future switching controller) can end the cycles.
TEST(MgritForward, MonitorCanStopTheSolve) {
  struct StopAt : Monitor {
    int seen = 0, ended = 0;
    void on_iteration(const SolveStats&, const IterationRecord&) override { ++seen; }
    void on_solve_end(const SolveStats&) override { ++ended; }
    bool wants_stop(const SolveStats& s) override { return s.iterations >= 3; }
  } mon;
  OdeProblem p(OdeKind::dahlquist, 128, 1.0, -1.0);
  Solver s(p, 128);
  s.set_step_size(p.h());
  s.forward_options().set_abs_tol(0);
  s.add_monitor(&mon);
  const auto& st = s.solve(*p.make(p.u0().data()));
  EXPECT_EQ(st.iterations, 3);
  EXPECT_TRUE(st.stopped);
  EXPECT_EQ(mon.seen, 3);
  EXPECT_EQ(mon.ended, 1);
}

TEST(MgritForward, BadOptionsAreClearErrors) {
  CycleOptions o;
  EXPECT_THROW(o.set_cfactor(1), lpt::Error);
  EXPECT_THROW(o.set_cfactor(2, 0), lpt::Error);
  EXPECT_THROW(o.set_max_levels(0), lpt::Error);
  EXPECT_THROW(o.set_abs_tol(-1e-3), lpt::Error);
  EXPECT_THROW(o.set_rel_tol(-1), lpt::Error);
  EXPECT_THROW(o.set_max_iter(-1), lpt::Error);
  EXPECT_THROW(parse_relax("FF"), lpt::Error);
  // 16 steps, cf 4, 3 levels: 16 -> 4 -> 1; the fine level has 4 intervals, so 1..4 ranks fit.
  CycleOptions g;
  g.set_cfactor(4);
  g.set_max_levels(3);
  EXPECT_NO_THROW(Grid(16, g, 4));
  try {
    Grid grid(16, g, 5);
    FAIL() << "5 ranks accepted for 4 fine intervals";
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("largest valid rank count is 4"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(Grid(64, g, 16));
  EXPECT_THROW(Grid(64, g, 17), lpt::Error);
  CycleOptions one;  // one level: every step may go to its own rank
  one.set_max_levels(1);
  EXPECT_NO_THROW(Grid(7, one, 7));
  EXPECT_THROW(Grid(7, one, 8), lpt::Error);
}

// More ranks than coarsest points: blocks of the coarsest level with >= P steps (at least level
// 1); coarser points go to the owner of the fine point under them, and some ranks own none.
TEST(MgritForward, GridAlignsToTheCoarsestLevelWithEnoughSteps) {
  CycleOptions o;
  o.set_cfactor(4);
  o.set_max_levels(3);
  const Grid g(64, o, 8);  // 64 -> 16 -> 4: level 2 has 4 < 8 steps, so blocks of level 1
  EXPECT_EQ(g.alignment_level(), 1);
  for (int q = 0; q < 8; ++q) {
    EXPECT_EQ(g.lo(0, q), 8 * q);
    EXPECT_EQ(g.lo(1, q), 2 * q);
  }
  EXPECT_EQ(g.hi(0, 7), 65);
  // Level 2's points 0..4 sit on fine points 0, 16, 32, 48, 64.
  const long lo2[8] = {0, 1, 1, 2, 2, 3, 3, 4};
  for (int q = 0; q < 8; ++q) EXPECT_EQ(g.lo(2, q), lo2[q]) << q;
  EXPECT_FALSE(g.owns_any(2, 1));
  EXPECT_TRUE(g.owns_any(2, 2));
  EXPECT_EQ(g.owner(2, 1), 2);
  EXPECT_EQ(g.owner(2, 4), 7);
  EXPECT_EQ(g.owner(1, 3), 1);
  // Up to the coarsest level's count the old layout stands: blocks of coarsest steps.
  const Grid h(64, o, 4);
  EXPECT_EQ(h.alignment_level(), 2);
  EXPECT_EQ(h.lo(0, 1), 16);
  // Trailing steps past the coarsest level's last point: its end point goes to the rank owning
  // the fine point under it, not to the last rank.
  const Grid t(78, o, 19);  // 78 -> 19 -> 4: one level-1 step per rank, the last holds 72..78
  EXPECT_EQ(t.owner(2, 4), 16);
  EXPECT_EQ(t.owner(0, 64), 16);
  EXPECT_FALSE(t.owns_any(2, 18));
  EXPECT_EQ(t.lo(0, 18), 72);
  EXPECT_EQ(t.hi(0, 18), 79);
}

TEST(MgritForward, GridHierarchyAndSplit) {
  CycleOptions o;
  o.set_cfactor(4);
  o.set_max_levels(10);
  o.set_min_coarse(3);
  Grid g(100, o, 3);  // 100 -> 25 -> 6 (-> 1 < 3 stops)
  ASSERT_EQ(g.levels(), 3);
  EXPECT_EQ(g.level(1).n, 25);
  EXPECT_EQ(g.level(2).n, 6);
  EXPECT_EQ(g.level(2).stride, 16);
  // blocks of the 6 coarsest intervals: 2, 2, 2 -> finest points [0,32), [32,64), [64,101)
  EXPECT_EQ(g.lo(0, 1), 32);
  EXPECT_EQ(g.hi(0, 1), 64);
  EXPECT_EQ(g.hi(0, 2), 101);
  EXPECT_EQ(g.lo(1, 2), 16);
  EXPECT_EQ(g.owner(0, 63), 1);
  EXPECT_EQ(g.owner(0, 100), 2);
}

TEST(MgritForward, ThreadsGiveBitIdenticalHistory) {
  auto run = [](int threads, std::vector<double>* hist, std::vector<double>* sol) {
    OdeProblem p(OdeKind::cubic, 512, 2.0, 1.0, 8);
    Solver s(p, 512);
    s.set_step_size(p.h());
    s.set_threads(threads);
    auto& o = s.forward_options();
    o.set_max_levels(3);
    o.set_cfactor(4);
    o.set_relax(Relax::FCF);
    o.set_abs_tol(0);
    o.set_max_iter(6);
    const auto& st = s.solve(*p.make(p.u0().data()));
    for (auto& h : st.history) hist->push_back(h.residual);
    for (long n = 0; n <= 512; ++n) sol->push_back(flat<double>(*s.state(n)).v[3]);
  };
  std::vector<double> h1, h2, s1, s2;
  run(1, &h1, &s1);
  run(2, &h2, &s2);
  EXPECT_EQ(h1, h2);
  EXPECT_EQ(s1, s2);
}

TEST(MgritForward, CPointStorageGivesTheSameAnswer) {
  auto run = [](Storage st, double* uN, double* res) {
    OdeProblem p(OdeKind::oscillator, 300, 5.0, 0.2);
    Solver s(p, 300);
    s.set_step_size(p.h());
    auto& o = s.forward_options();
    o.set_max_levels(3);
    o.set_cfactor(5);
    o.set_storage(st);
    o.set_abs_tol(0);
    o.set_max_iter(3);
    const auto& r = s.solve(*p.make(p.u0().data()));
    *uN = flat<double>(*s.final_state()).v[1];
    *res = r.history.back().residual;
    if (st == Storage::c_points) {
      EXPECT_EQ(s.state(1), nullptr);
      EXPECT_THROW(s.solve_adjoint(s.final_state()), lpt::Error);
    }
  };
  double a, b, ra, rb;
  run(Storage::all, &a, &ra);
  run(Storage::c_points, &b, &rb);
  EXPECT_EQ(a, b);
  EXPECT_EQ(ra, rb);
}

TEST(MgritForward, WarmStartNeedsFewerIterations) {
  OdeProblem p(OdeKind::cubic, 256, 2.0, 1.0, 2);
  Solver s(p, 256);
  s.set_step_size(p.h());
  s.set_warm_start(true);
  auto& o = s.forward_options();
  o.set_cfactor(4);
  o.set_max_levels(3);
  o.set_abs_tol(1e-10);
  o.set_max_iter(50);
  const int cold = s.solve(*p.make(p.u0().data())).iterations;
  for (auto& t : p.theta()) t *= 1.01;  // the next "batch": slightly different parameters
  const int warm = s.solve(*p.make(p.u0().data())).iterations;
  EXPECT_LT(warm, cold);
  s.set_warm_start(false);
  EXPECT_EQ(s.solve(*p.make(p.u0().data())).iterations, cold);
}

TEST(MgritForward, SingleLevelIsSequentialStepping) {
  OdeProblem p(OdeKind::dahlquist, 10, 1.0, -2.0);
  Solver s(p, 10);
  s.set_step_size(p.h());
  s.forward_options().set_max_levels(1);
  const auto& st = s.solve(*p.make(p.u0().data()));
  EXPECT_EQ(st.evals[0], 10);
  EXPECT_EQ(flat<double>(*s.final_state()).v[0], p.serial_forward()[10][0]);
}

// float states through FlatApp<float>; the coarse-parameter policy is the app's to choose.
TEST(MgritForward, FloatStatesAndMidpointParameterPolicy) {
  const long N = 96;
  std::vector<float> theta(N);
  for (long n = 0; n < N; ++n) theta[n] = -1.0f - 0.5f * float(n) / N;
  long out_of_range = 0;
  FlatApp<float> app(3, [&](const StepInfo& s, const float* u, float* out) {
    if (s.layer < s.fine_begin || s.layer >= s.fine_end) ++out_of_range;
    for (int i = 0; i < 3; ++i) out[i] = u[i] * (1.0f + float(s.h) * theta[s.layer] * (i + 1));
  });
  Solver s(app, N);
  s.set_step_size(1.0 / N);
  s.set_param_policy([](int, long b, long e) { return (b + e) / 2; });
  s.forward_options().set_cfactor(4);
  s.forward_options().set_max_levels(3);
  s.forward_options().set_abs_tol(1e-6);
  const float u0[3] = {1.0f, 2.0f, -1.0f};
  const auto& st = s.solve(*app.make(u0));
  EXPECT_TRUE(st.converged);
  EXPECT_EQ(out_of_range, 0);
  std::vector<float> u(u0, u0 + 3), v(3);
  for (long n = 0; n < N; ++n) {
    for (int i = 0; i < 3; ++i) v[i] = u[i] * (1.0f + float(1.0 / N) * theta[n] * (i + 1));
    u = v;
  }
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(flat<float>(*s.final_state()).v[i], u[i], 1e-6);
}
