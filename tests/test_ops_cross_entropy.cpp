#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "model/ops/cross_entropy.hpp"
#include "tests/gradcheck.hpp"
#include "util/error.hpp"

using lpt::test::grad_check;
using lpt::test::random_vector;

namespace {

// The definition, written out: mean over kept rows of (1−ε)(−log p_t) + ε·mean_v(−log p_v).
double direct_loss(const std::vector<double>& x, const std::vector<std::int64_t>& t, int N, int V,
                   double eps) {
  double total = 0;
  int count = 0;
  for (int n = 0; n < N; ++n) {
    if (t[n] == -100) continue;
    double z = 0;
    for (int v = 0; v < V; ++v) z += std::exp(x[n * V + v]);
    double smooth = 0;
    for (int v = 0; v < V; ++v) smooth += -(x[n * V + v] - std::log(z)) / V;
    total += (1 - eps) * -(x[n * V + t[n]] - std::log(z)) + eps * smooth;
    ++count;
  }
  return total / count;
}

TEST(OpsCrossEntropy, LossMatchesDirectFormulaWithIgnoreAndSmoothing) {
  const int N = 6, V = 7;
  auto x = random_vector(N * V, 1, 3.0);
  const std::vector<std::int64_t> t = {2, -100, 0, 6, -100, 3};
  std::vector<double> losses(N), lse(N);
  for (double eps : {0.0, 0.1, 1.0}) {
    const double l = lpt::ops::cross_entropy_forward(losses.data(), lse.data(), x.data(), t.data(),
                                                     N, V, eps);
    EXPECT_NEAR(l, direct_loss(x, t, N, V, eps), 1e-13) << "eps=" << eps;
    EXPECT_EQ(losses[1], 0.0);
  }
}

TEST(OpsCrossEntropy, LargeLogitsDoNotOverflow) {
  const std::vector<double> x = {1000.0, 999.0, 998.0};
  const std::vector<std::int32_t> t = {1};
  double loss_row, lse;
  const double l = lpt::ops::cross_entropy_forward(&loss_row, &lse, x.data(), t.data(), 1, 3);
  const double ref = -(-1.0 - std::log(1 + std::exp(-1.0) + std::exp(-2.0)));
  EXPECT_NEAR(l, ref, 1e-12);
}

TEST(OpsCrossEntropy, GradientMatchesFiniteDifferences) {
  for (auto [N, V, eps] : {std::tuple{1, 1, 0.0}, std::tuple{1, 5, 0.2}, std::tuple{7, 9, 0.1},
                           std::tuple{5, 33, 0.0}}) {
    auto x = random_vector(std::size_t(N) * V, 2, 2.0);
    std::vector<std::int64_t> t(N);
    for (int n = 0; n < N; ++n) t[n] = (n % 3 == 2) ? -100 : (n * 4 + 1) % V;
    std::vector<double> losses(N), lse(N);
    auto loss = [&] {
      return lpt::ops::cross_entropy_forward(losses.data(), lse.data(), x.data(), t.data(), N, V,
                                             eps);
    };
    loss();
    const double dloss = 1.7;
    std::vector<double> dx(x.size(), 0.5);
    lpt::ops::cross_entropy_backward(dx.data(), x.data(), lse.data(), t.data(), N, V, dloss, eps);
    for (auto& e : dx) e = (e - 0.5) / dloss;  // accumulates; scaled by dloss
    auto r = grad_check(x.data(), x.size(), dx, loss);
    if (V == 1) {
      EXPECT_LT(r.norm, 1e-12);  // one class: the loss is identically 0
    } else {
      EXPECT_LT(r.rel_error, 1e-8) << "N=" << N << " V=" << V << " eps=" << eps;
    }
  }
}

TEST(OpsCrossEntropy, AllIgnoredGivesZeroLossAndNoGradient) {
  const std::vector<double> x = {0.1, 0.2, 0.3, 0.4};
  const std::vector<std::int32_t> t = {-100, -100};
  std::vector<double> losses(2), lse(2), dx(4, 0.0);
  EXPECT_EQ(lpt::ops::cross_entropy_forward(losses.data(), lse.data(), x.data(), t.data(), 2, 2),
            0.0);
  lpt::ops::cross_entropy_backward(dx.data(), x.data(), lse.data(), t.data(), 2, 2, 1.0);
  EXPECT_EQ(dx, std::vector<double>(4, 0.0));
}

TEST(OpsCrossEntropy, FloatAgreesWithDouble) {
  const int N = 64, V = 256;
  auto x = random_vector(N * V, 3, 4.0);
  std::vector<float> xf(x.begin(), x.end());
  std::vector<std::int32_t> t(N);
  for (int n = 0; n < N; ++n) t[n] = (n * 37) % V;
  std::vector<double> l(N), s(N);
  std::vector<float> lf(N), sf(N);
  const double a = lpt::ops::cross_entropy_forward(l.data(), s.data(), x.data(), t.data(), N, V, 0.1);
  const double b = lpt::ops::cross_entropy_forward(lf.data(), sf.data(), xf.data(), t.data(), N, V, 0.1);
  EXPECT_NEAR(a, b, 1e-5 * std::abs(a));
}

TEST(OpsCrossEntropy, BadTargetAndSmoothingAreErrors) {
  const std::vector<double> x = {0.1, 0.2};
  const std::vector<std::int32_t> t = {2};
  double l, s;
  try {
    lpt::ops::cross_entropy_forward(&l, &s, x.data(), t.data(), 1, 2);
    FAIL() << "no error";
  } catch (const lpt::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("target 2"), std::string::npos) << m;
    EXPECT_NE(m.find("[0, 2)"), std::string::npos) << m;
  }
  const std::vector<std::int32_t> ok = {1};
  EXPECT_THROW(lpt::ops::cross_entropy_forward(&l, &s, x.data(), ok.data(), 1, 2, 1.5), lpt::Error);
}

TEST(OpsCrossEntropy, AccuracyCountsArgmaxOverKeptRows) {
  const std::vector<double> x = {0, 3, 1,   // argmax 1
                                 5, 5, 0,   // tie: first maximum, 0
                                 0, 0, 9,   // argmax 2, ignored
                                 2, 1, 0};  // argmax 0
  const std::vector<std::int64_t> t = {1, 0, -100, 2};
  const auto a = lpt::ops::accuracy_count(x.data(), t.data(), 4, 3);
  EXPECT_EQ(a.counted, 3);
  EXPECT_EQ(a.correct, 2);
  EXPECT_DOUBLE_EQ(a.accuracy(), 2.0 / 3.0);
}

}  // namespace
