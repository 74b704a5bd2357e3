#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/ops/gelu.hpp"
#include "tests/gradcheck.hpp"

using lpt::test::grad_check;
using lpt::test::random_vector;

namespace {

double gelu_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

TEST(OpsGelu, ForwardMatchesTanhFormula) {
  // Covers both tails (tanh saturates) and a length that is not a multiple of the chunk size.
  std::vector<double> x(1031);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = -12.0 + 24.0 * double(i) / (x.size() - 1);
  std::vector<double> y(x.size());
  std::vector<float> xf(x.begin(), x.end()), yf(x.size());
  lpt::ops::gelu_forward(y.data(), x.data(), x.size());
  lpt::ops::gelu_forward(yf.data(), xf.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(y[i], gelu_ref(x[i]), 1e-14 * (1 + std::abs(x[i]))) << x[i];
    EXPECT_NEAR(yf[i], gelu_ref(xf[i]), 1e-6 * (1 + std::abs(x[i]))) << x[i];
  }
}

TEST(OpsGelu, GradientMatchesFiniteDifferences) {
  for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(2100)}) {
    auto x = random_vector(n, 1, 2.0);
    const auto r = random_vector(n, 2);
    std::vector<double> y(n);
    auto loss = [&] {
      lpt::ops::gelu_forward(y.data(), x.data(), n);
      return lpt::test::dot(y.data(), r.data(), n);
    };
    std::vector<double> dx(n, 1.0);
    lpt::ops::gelu_backward(dx.data(), r.data(), x.data(), n);
    for (auto& e : dx) e -= 1.0;
    EXPECT_LT(grad_check(x.data(), n, dx, loss).rel_error, 1e-8) << "n=" << n;
  }
}

TEST(OpsGelu, BiasGeluEqualsBiasThenGelu) {
  const int N = 3, C = 2100;  // C above the chunk size
  auto pre = random_vector(N * C, 3), b = random_vector(C, 4);
  auto pre2 = pre;
  std::vector<double> out(N * C);
  lpt::ops::bias_gelu_forward(out.data(), pre.data(), b.data(), N, C);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const double h = pre2[n * C + c] + b[c];
      EXPECT_DOUBLE_EQ(pre[n * C + c], h);
      EXPECT_NEAR(out[n * C + c], gelu_ref(h), 1e-14 * (1 + std::abs(h)));
    }
}

TEST(OpsGelu, InPlaceForwardAndBackward) {
  auto x = random_vector(100, 5);
  auto y = x;
  lpt::ops::gelu_forward(y.data(), y.data(), y.size());
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], gelu_ref(x[i]), 1e-14);
  std::vector<double> g(100, 1.0), ref(100, 1.0);
  lpt::ops::gelu_backward(ref.data(), std::vector<double>(100, 1.0).data(), x.data(), 100);
  lpt::ops::gelu_backward(g.data(), g.data(), x.data(), 100);  // g += g·gelu'(x)
  for (int i = 0; i < 100; ++i) EXPECT_NEAR(g[i], ref[i], 1e-14);
}

}  // namespace
