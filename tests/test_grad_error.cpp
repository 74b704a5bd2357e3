// Gradient comparison on hand-made vectors (exact values), the bias estimator on synthetic error
// streams whose bias and noise are known by construction, and the residual-to-error predictor on
// a known power law.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "adaptive/error_predictor.hpp"
#include "adaptive/grad_error.hpp"
#include "util/error.hpp"

using namespace lpt::mgrit;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// Uniform in [-1, 1) from the raw engine output: std::mt19937_64's sequence is fixed by the
// standard, unlike the library's distributions, so these tests see the same numbers everywhere.
struct Rng {
  std::mt19937_64 eng;
  explicit Rng(std::uint64_t seed) : eng(seed) {}
  double uniform() { return double(eng() >> 11) * 0x1.0p-53 * 2.0 - 1.0; }
  // Zero mean, unit variance.
  double noise() { return std::sqrt(3.0) * uniform(); }
};

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

}  // namespace

TEST(CompareGradients, HandMadeValues) {
  // g = (3, 4 | 0, 0 | 1, 0), ĝ = (4, 3 | 1, 0 | 1, 0)
  const std::vector<double> g = {3, 4, 0, 0, 1, 0};
  const std::vector<double> a = {4, 3, 1, 0, 1, 0};
  const std::vector<GradSegment> segs = {{"opening", 0, 2}, {"layer0", 2, 4}, {"closing", 4, 6}};
  const GradComparison c = compare_gradients(a.data(), g.data(), g.size(), segs);
  EXPECT_DOUBLE_EQ(c.norm_exact, std::sqrt(26.0));
  EXPECT_DOUBLE_EQ(c.norm_approx, std::sqrt(27.0));
  EXPECT_DOUBLE_EQ(c.rel_error, std::sqrt(3.0) / std::sqrt(26.0));  // d = (1,-1,1,0,0,0)
  EXPECT_DOUBLE_EQ(c.cosine, 25.0 / std::sqrt(26.0 * 27.0));
  ASSERT_EQ(c.seg_cosine.size(), 3u);
  // opening: (4,3) vs (3,4): cosine 24/25, equal norms, error sqrt(2)/5
  EXPECT_DOUBLE_EQ(c.seg_cosine[0], 24.0 / 25.0);
  EXPECT_DOUBLE_EQ(c.seg_norm_ratio[0], 1.0);
  EXPECT_DOUBLE_EQ(c.seg_rel_error[0], std::sqrt(2.0) / 5.0);
  // layer0: exact gradient zero, approximate not: cosine 0, ratio and error infinite
  EXPECT_EQ(c.seg_cosine[1], 0.0);
  EXPECT_EQ(c.seg_norm_ratio[1], inf);
  EXPECT_EQ(c.seg_rel_error[1], inf);
  // closing: identical
  EXPECT_EQ(c.seg_cosine[2], 1.0);
  EXPECT_EQ(c.seg_norm_ratio[2], 1.0);
  EXPECT_EQ(c.seg_rel_error[2], 0.0);
}

TEST(CompareGradients, ZeroConventions) {
  const std::vector<double> z = {0, 0, 0};
  const std::vector<double> x = {0, 2, 0};
  // Both zero: exact, cosine 1, ratio 1 on a segment.
  GradComparison c = compare_gradients(z.data(), z.data(), 3, {{"all", 0, 3}});
  EXPECT_EQ(c.rel_error, 0.0);
  EXPECT_EQ(c.cosine, 1.0);
  EXPECT_EQ(c.seg_norm_ratio[0], 1.0);
  EXPECT_EQ(c.seg_rel_error[0], 0.0);
  // Approximate zero, exact not: error exactly 1, cosine 0, ratio 0.
  c = compare_gradients(z.data(), x.data(), 3, {{"all", 0, 3}});
  EXPECT_EQ(c.rel_error, 1.0);
  EXPECT_EQ(c.cosine, 0.0);
  EXPECT_EQ(c.seg_norm_ratio[0], 0.0);
  // Exact zero, approximate not: error inf (not NaN), cosine 0.
  c = compare_gradients(x.data(), z.data(), 3, {});
  EXPECT_EQ(c.rel_error, inf);
  EXPECT_EQ(c.cosine, 0.0);
  EXPECT_TRUE(c.seg_cosine.empty());
  // Empty segment counts as both zero.
  c = compare_gradients(x.data(), z.data(), 3, {{"empty", 1, 1}});
  EXPECT_EQ(c.seg_cosine[0], 1.0);
  EXPECT_EQ(c.seg_rel_error[0], 0.0);
}

TEST(CompareGradients, OppositeAndScaled) {
  const std::vector<double> g = {1, -2, 2};
  const std::vector<double> neg = {-1, 2, -2};
  const std::vector<double> twice = {2, -4, 4};
  GradComparison c = compare_gradients(neg.data(), g.data(), 3, {});
  EXPECT_DOUBLE_EQ(c.cosine, -1.0);
  EXPECT_DOUBLE_EQ(c.rel_error, 2.0);
  c = compare_gradients(twice.data(), g.data(), 3, {{"s", 0, 3}});
  EXPECT_DOUBLE_EQ(c.cosine, 1.0);
  EXPECT_DOUBLE_EQ(c.rel_error, 1.0);
  EXPECT_DOUBLE_EQ(c.seg_norm_ratio[0], 2.0);
}

TEST(CompareGradients, FloatInputsAccumulateInDouble) {
  // 10^6 entries of 0.1f: a float running sum of squares would drift far past this; the double one
  // stays within n * eps ~ 1e-10.
  const std::size_t n = 1000000;
  std::vector<float> g(n, 0.1f), a(n, 0.1f);
  a[7] = 0.2f;
  const GradComparison c = compare_gradients(a.data(), g.data(), n, {{"head", 0, 10}});
  const double v = 0.1f, w = 0.2f;
  EXPECT_NEAR(c.norm_exact, std::sqrt(double(n)) * v, 1e-10 * c.norm_exact);
  EXPECT_NEAR(c.rel_error, (w - v) / (std::sqrt(double(n)) * v), 1e-10);
  EXPECT_NEAR(c.seg_rel_error[0], (w - v) / (std::sqrt(10.0) * v), 1e-12);
}

TEST(CompareGradients, SegmentOutOfRangeIsAnError) {
  const std::vector<double> g = {1, 2, 3};
  EXPECT_THROW(compare_gradients(g.data(), g.data(), 3, {{"layer2", 2, 4}}), lpt::Error);
  EXPECT_THROW(compare_gradients(g.data(), g.data(), 3, {{"backwards", 2, 1}}), lpt::Error);
  try {
    compare_gradients(g.data(), g.data(), 3, {{"layer2", 2, 4}});
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer2"), std::string::npos);
  }
}

TEST(BiasEstimator, HandMadeTwoBatches) {
  // g1 = (1, 0), g2 = (3, 0); d1 = (1, 1), d2 = (1, -1)
  BiasEstimator est(2);
  const double a1[] = {2, 1}, g1[] = {1, 0}, a2[] = {4, -1}, g2[] = {3, 0};
  est.add(a1, g1);
  est.add(a2, g2);
  const BiasEstimate e = est.estimate();
  EXPECT_EQ(e.batches, 2);
  EXPECT_DOUBLE_EQ(e.mean_error_norm, 1.0);         // mean d = (1, 0)
  EXPECT_DOUBLE_EQ(e.mean_grad_norm, 2.0);          // mean g = (2, 0)
  EXPECT_DOUBLE_EQ(e.grad_spread, std::sqrt(2.0));  // (1 + 1) / 1
  EXPECT_DOUBLE_EQ(e.error_spread, std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(e.bias_ratio, 0.5);
  EXPECT_DOUBLE_EQ(e.bias_vs_spread, 1.0 / std::sqrt(2.0));
  // (1 - 2/2) / mean(2, 2) = 0: this much spread explains the whole mean error
  EXPECT_DOUBLE_EQ(e.systematic_fraction, 0.0);
  EXPECT_DOUBLE_EQ(e.mean_rel_error, (std::sqrt(2.0) / 1.0 + std::sqrt(2.0) / 3.0) / 2);
}

TEST(BiasEstimator, ZeroMeanNoiseIsNotBias) {
  // Per-batch errors as large as the gradient, but zero-mean: averaging over batches removes them.
  const std::size_t n = 2000;
  const int m = 64;
  Rng rng(1);
  std::vector<double> gbar(n);
  for (auto& x : gbar) x = 1.0 + 0.5 * rng.uniform();
  BiasEstimator est(n);
  std::vector<double> g(n), a(n);
  for (int i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      g[j] = gbar[j] + 0.3 * rng.noise();
      a[j] = g[j] + 1.0 * rng.noise();
    }
    est.add(a.data(), g.data());
  }
  const BiasEstimate e = est.estimate();
  EXPECT_EQ(e.batches, m);
  EXPECT_GT(e.mean_rel_error, 0.8);  // what a per-batch check sees
  EXPECT_LT(e.bias_ratio, 0.2);      // noise floor ≈ rel error / sqrt(M) ≈ 0.13
  EXPECT_LT(std::abs(e.systematic_fraction), 0.01);
  EXPECT_NEAR(e.error_spread, std::sqrt(double(n)), 0.05 * std::sqrt(double(n)));
  EXPECT_NEAR(e.grad_spread, 0.3 * std::sqrt(double(n)), 0.05 * 0.3 * std::sqrt(double(n)));
}

TEST(BiasEstimator, ConstantOffsetIsAllBias) {
  const std::size_t n = 500;
  const int m = 16;
  Rng rng(2);
  std::vector<double> offset(n), sum_g(n, 0.0), g(n), a(n);
  for (auto& x : offset) x = 0.05 * rng.uniform();
  BiasEstimator est;
  est.reset(n);
  for (int i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      g[j] = 0.2 + rng.noise();
      a[j] = g[j] + offset[j];
      sum_g[j] += g[j];
    }
    est.add(a.data(), g.data());
  }
  for (auto& x : sum_g) x /= m;
  const BiasEstimate e = est.estimate();
  EXPECT_NEAR(e.systematic_fraction, 1.0, 1e-9);
  EXPECT_NEAR(e.error_spread, 0.0, 1e-12);
  EXPECT_NEAR(e.bias_ratio, norm(offset) / norm(sum_g), 1e-12);
  EXPECT_NEAR(e.mean_error_norm, norm(offset), 1e-12);
}

TEST(BiasEstimator, OffsetPlusNoiseSplitsTheEnergy) {
  // d_i = b + e_i with ||b||^2 = n * 0.25 and tr Σ = n * 0.25: half the error energy is bias.
  const std::size_t n = 4000;
  const int m = 32;
  Rng rng(3);
  BiasEstimator est(n);
  std::vector<double> g(n), a(n);
  for (int i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      g[j] = 1.0 + rng.noise();
      a[j] = g[j] + (j % 2 ? 0.5 : -0.5) + 0.5 * rng.noise();
    }
    est.add(a.data(), g.data());
  }
  const BiasEstimate e = est.estimate();
  EXPECT_NEAR(e.systematic_fraction, 0.5, 0.03);
  EXPECT_NEAR(e.bias_ratio, 0.5, 0.03);  // ||b|| / ||E g|| = 0.5 sqrt(n) / sqrt(n)
}

TEST(BiasEstimator, FloatGradients) {
  BiasEstimator est(3);
  const float a[] = {1.5f, 2.0f, 0.0f}, g[] = {1.0f, 2.0f, 0.0f};
  est.add(a, g);
  est.add(a, g);
  const BiasEstimate e = est.estimate();
  EXPECT_DOUBLE_EQ(e.bias_ratio, 0.5 / std::sqrt(5.0));
  EXPECT_DOUBLE_EQ(e.systematic_fraction, 1.0);
  EXPECT_EQ(e.grad_spread, 0.0);
  EXPECT_EQ(e.bias_vs_spread, inf);  // a bias with no noise to hide in
}

TEST(BiasEstimator, OneBatch) {
  BiasEstimator est(2);
  const double a[] = {3, 1}, g[] = {3, 4};  // d = (0, -3)
  est.add(a, g);
  const BiasEstimate e = est.estimate();
  EXPECT_EQ(e.batches, 1);
  EXPECT_EQ(e.grad_spread, 0.0);
  EXPECT_EQ(e.error_spread, 0.0);
  EXPECT_DOUBLE_EQ(e.bias_ratio, 0.6);
  EXPECT_DOUBLE_EQ(e.mean_rel_error, 0.6);  // one batch: bias ratio is the per-batch error
  EXPECT_EQ(e.bias_vs_spread, inf);
  EXPECT_EQ(e.systematic_fraction, 1.0);  // nothing to separate: counted as systematic

  // One exact batch: no error anywhere, every ratio 0.
  BiasEstimator exact(2);
  exact.add(g, g);
  const BiasEstimate z = exact.estimate();
  EXPECT_EQ(z.bias_ratio, 0.0);
  EXPECT_EQ(z.bias_vs_spread, 0.0);
  EXPECT_EQ(z.systematic_fraction, 0.0);
}

TEST(BiasEstimator, EmptyResetAndMisuse) {
  BiasEstimator est;
  const double a[] = {1}, g[] = {2};
  EXPECT_THROW(est.add(a, g), lpt::Error);  // no length yet
  EXPECT_EQ(est.estimate().batches, 0);
  est.reset(1);
  est.add(a, g);
  EXPECT_EQ(est.count(), 1);
  est.reset(1);  // clears
  EXPECT_EQ(est.count(), 0);
  EXPECT_EQ(est.estimate().bias_ratio, 0.0);
  est.add(g, g);
  EXPECT_EQ(est.estimate().mean_error_norm, 0.0);
}

TEST(ErrorPredictor, RecoversPowerLaw) {
  ErrorPredictor p;
  EXPECT_TRUE(std::isnan(p.predict(1e-3)));
  EXPECT_TRUE(std::isnan(p.intercept()));
  for (double x : {1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4}) p.add(x, 3.0 * std::pow(x, 0.7));
  EXPECT_EQ(p.samples(), 6);
  EXPECT_NEAR(p.slope(), 0.7, 1e-12);
  EXPECT_NEAR(p.intercept(), std::log(3.0), 1e-12);
  EXPECT_NEAR(p.predict(5e-3), 3.0 * std::pow(5e-3, 0.7), 1e-12);
}

TEST(ErrorPredictor, NoisyPowerLaw) {
  ErrorPredictor p;
  Rng rng(4);
  for (int i = 0; i < 200; ++i) {
    const double x = std::pow(10.0, -4.0 + 3.0 * (rng.uniform() + 1) / 2);
    p.add(x, 0.5 * std::pow(x, 1.3) * std::exp(0.1 * rng.noise()));
  }
  EXPECT_NEAR(p.slope(), 1.3, 0.03);
  EXPECT_NEAR(p.predict(1e-2) / (0.5 * std::pow(1e-2, 1.3)), 1.0, 0.05);
}

TEST(ErrorPredictor, SlopeFixedToOneUntilThreeDistinctIndicators) {
  ErrorPredictor p;
  p.add(1e-2, 0.2);  // one pair: error proportional to the indicator through it
  EXPECT_EQ(p.slope(), 1.0);
  EXPECT_NEAR(p.predict(2e-2), 0.4, 1e-12);
  p.add(1e-3, 0.05);  // two distinct: slope 1, constant the geometric mean of 20 and 50
  EXPECT_EQ(p.slope(), 1.0);
  EXPECT_NEAR(p.predict(1.0), std::sqrt(20.0 * 50.0), 1e-9);
  p.add(1e-3, 0.03);  // repeats an indicator: still two distinct values
  EXPECT_EQ(p.slope(), 1.0);
  EXPECT_EQ(p.samples(), 3);
  p.add(1e-4, 0.001);  // third distinct value: fitted
  EXPECT_NE(p.slope(), 1.0);
}

TEST(ErrorPredictor, IgnoresUnusablePairs) {
  ErrorPredictor p;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  p.add(0, 0.1);
  p.add(-1, 0.1);
  p.add(nan, 0.1);
  p.add(inf, 0.1);
  p.add(1e-3, 0);
  p.add(1e-3, -0.1);
  p.add(1e-3, nan);
  p.add(1e-3, inf);
  EXPECT_EQ(p.samples(), 0);
  EXPECT_TRUE(std::isnan(p.predict(1e-3)));
  p.add(1e-3, 0.1);
  EXPECT_EQ(p.samples(), 1);
  EXPECT_TRUE(std::isnan(p.predict(0)));
  EXPECT_TRUE(std::isnan(p.predict(nan)));
  EXPECT_NEAR(p.predict(1e-3), 0.1, 1e-12);
}
