// Two-level convergence on Dahlquist problems against the bound of Dobrev, Kolev, Petersson,
// Schroder (2017): measured factors must lie under it and, early on (before the nilpotent error
// propagator cuts them), close to it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "solver/ode_problems.hpp"
#include "solver/solver.hpp"

using namespace lpt::mgrit;

TEST(DahlquistBound, TwoLevelFactorsUnderAndNearTheBound) {
  const long Nc = 256;  // coarse steps
  double worst_ratio = 1e9, best_ratio = 0;
  for (bool beuler : {false, true}) {
    for (Relax r : {Relax::F, Relax::FCF}) {
      for (int m : {2, 4, 8}) {
        for (double zh : {-0.02, -0.1, -0.4, -0.9}) {
          if (!beuler && zh * m < -1.9) continue;  // forward Euler coarse step unstable
          const long N = Nc * m;
          const double lambda = zh * N;  // T = 1, h = 1/N
          OdeProblem p(OdeKind::dahlquist, N, 1.0, lambda, 1, beuler);
          p.set_guess_value(0.3);
          Solver s(p, N);
          s.set_step_size(p.h());
          auto& o = s.forward_options();
          o.set_max_levels(2);
          o.set_cfactor(m);
          o.set_fine_relax(r);
          o.set_abs_tol(0);
          o.set_max_iter(4);
          const auto& st = s.solve(*p.make(p.u0().data()));
          const double lam = beuler ? 1.0 / (1.0 - zh) : 1.0 + zh;
          const double mu = beuler ? 1.0 / (1.0 - m * zh) : 1.0 + m * zh;
          const double bound = two_level_bound(lam, mu, m, Nc, r == Relax::FCF);
          double measured = 0;
          for (const auto& it : st.history)
            if (it.conv_factor > 0) measured = std::max(measured, it.conv_factor);
          if (st.history.size() >= 2 && st.history[1].residual < 1e-300) continue;
          EXPECT_LE(measured, bound * (1 + 1e-9))
              << (beuler ? "BE" : "FE") << " " << to_string(r) << " m=" << m << " zh=" << zh;
          const double ratio = measured / bound;
          // With mu < 0 the bound's geometric sum (1 - |mu|^N)/(1 - |mu|) over-counts an
          // alternating series, so it is loose there by about (1 - |mu|)/(1 + |mu|).
          if (mu >= 0) worst_ratio = std::min(worst_ratio, ratio);
          else EXPECT_GT(ratio, 0.8 * (1 - std::fabs(mu)) / (1 + std::fabs(mu)));
          best_ratio = std::max(best_ratio, ratio);
          std::printf("%s %-3s m=%d zh=%6.3f  measured %.4e  bound %.4e  ratio %.3f\n",
                      beuler ? "BE" : "FE", to_string(r), m, zh, measured, bound, ratio);
        }
      }
    }
  }
  // "close to it": for mu >= 0 the first iterations' factors are within 15 % of the bound.
  std::printf("ratio measured/bound for mu >= 0: %.3f .. %.3f\n", worst_ratio, best_ratio);
  EXPECT_GT(worst_ratio, 0.85);
}
