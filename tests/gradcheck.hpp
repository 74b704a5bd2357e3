#pragma once
// Central finite differences in float64 against an analytic gradient. The relative error is
// measured per whole gradient vector, ‖g_fd − g‖ / max(‖g_fd‖, ‖g‖, tiny), which is robust to
// individual near-zero entries, and also the worst entry scaled by the vector norm.
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace lpt::test {

struct GradCheckResult {
  double rel_error = 0;  // ‖fd − analytic‖ / max(‖fd‖, ‖analytic‖)
  double max_entry_error = 0;  // max_i |fd_i − g_i| / max(‖fd‖, ‖g‖)
  double norm = 0;       // ‖analytic‖
};

// loss(): evaluates the scalar objective at the current contents of x.
// x: the variable (perturbed in place and restored); analytic: dloss/dx, same length.
// eps: step; with float64 and O(1) values 1e-6 gives ~1e-10 truncation+rounding error.
inline GradCheckResult grad_check(double* x, std::size_t n, const std::vector<double>& analytic,
                                  const std::function<double()>& loss, double eps = 1e-6) {
  std::vector<double> fd(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double x0 = x[i];
    x[i] = x0 + eps;
    const double lp = loss();
    x[i] = x0 - eps;
    const double lm = loss();
    x[i] = x0;
    fd[i] = (lp - lm) / (2 * eps);
  }
  double d2 = 0, f2 = 0, a2 = 0, dmax = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = fd[i] - analytic[i];
    d2 += d * d;
    f2 += fd[i] * fd[i];
    a2 += analytic[i] * analytic[i];
    dmax = std::max(dmax, std::abs(d));
  }
  const double scale = std::max({std::sqrt(f2), std::sqrt(a2), 1e-300});
  return {std::sqrt(d2) / scale, dmax / scale, std::sqrt(a2)};
}

// Random projection objective: loss = <w, y> with fixed random w turns any vector-valued
// forward into a scalar whose gradient w.r.t. y is w; used to drive an op's backward.
inline std::vector<double> random_vector(std::size_t n, unsigned seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  std::vector<double> v(n);
  for (auto& e : v) e = nd(rng);
  return v;
}

inline double dot(const double* a, const double* b, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace lpt::test
