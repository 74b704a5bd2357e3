#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/ops/dropout.hpp"
#include "tests/gradcheck.hpp"
#include "util/error.hpp"

using lpt::ops::DropoutKey;
using lpt::test::random_vector;

namespace {

std::vector<float> run(const DropoutKey& k, double p, std::size_t n, std::uint64_t first = 0) {
  std::vector<float> x(n, 1.0f), y(n);
  lpt::ops::dropout_forward(y.data(), x.data(), n, p, k, first);
  return y;
}

TEST(OpsDropout, SameKeysGiveTheSameMask) {
  const DropoutKey k{42, 7, 3, lpt::ops::kDropAttn};
  EXPECT_EQ(run(k, 0.3, 100003), run(k, 0.3, 100003));
}

TEST(OpsDropout, EachKeyFieldChangesTheMask) {
  const DropoutKey k{42, 7, 3, lpt::ops::kDropAttn};
  const auto base = run(k, 0.5, 4096);
  for (DropoutKey other : {DropoutKey{43, 7, 3, 1}, DropoutKey{42, 8, 3, 1}, DropoutKey{42, 7, 4, 1},
                           DropoutKey{42, 7, 3, 2}}) {
    const auto m = run(other, 0.5, 4096);
    int same = 0;
    for (std::size_t i = 0; i < m.size(); ++i) same += (m[i] == 0) == (base[i] == 0);
    // Independent masks agree on about half the elements (sd 32): far from all.
    EXPECT_NEAR(same, 2048, 200) << other.seed << " " << other.step << " " << other.layer;
  }
}

TEST(OpsDropout, KeepRateAndScale) {
  const std::size_t n = 1 << 20;
  for (double p : {0.1, 0.5, 0.9}) {
    const auto y = run(DropoutKey{1, 2, 3, 0}, p, n);
    std::size_t kept = 0;
    for (float v : y) {
      if (v != 0) {
        ++kept;
        ASSERT_FLOAT_EQ(v, float(1.0 / (1.0 - p)));
      }
    }
    const double rate = double(kept) / n, sd = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(rate, 1 - p, 5 * sd) << "p=" << p;
  }
}

TEST(OpsDropout, SliceUsesGlobalIndices) {
  const DropoutKey k{5, 6, 7, 2};
  const auto whole = run(k, 0.4, 1000);
  const auto tail = run(k, 0.4, 300, 700);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(tail[i], whole[700 + i]);
}

TEST(OpsDropout, ZeroProbabilityIsExactIdentity) {
  auto x = random_vector(1001, 1);
  std::vector<double> y(x.size());
  lpt::ops::dropout_forward(y.data(), x.data(), x.size(), 0.0, DropoutKey{});
  EXPECT_EQ(y, x);
  std::vector<double> g(x.size(), 0.0);
  lpt::ops::dropout_backward(g.data(), x.data(), x.size(), 0.0, DropoutKey{});
  EXPECT_EQ(g, x);
}

TEST(OpsDropout, BackwardIsTheSameMaskAndScale) {
  const std::size_t n = 777;
  const DropoutKey k{9, 1, 0, lpt::ops::kDropMlp};
  auto x = random_vector(n, 2);
  const auto r = random_vector(n, 3);
  std::vector<double> y(n);
  auto loss = [&] {
    lpt::ops::dropout_forward(y.data(), x.data(), n, 0.25, k);
    return lpt::test::dot(y.data(), r.data(), n);
  };
  std::vector<double> dx(n, 0.0);
  lpt::ops::dropout_backward(dx.data(), r.data(), n, 0.25, k);
  EXPECT_LT(lpt::test::grad_check(x.data(), n, dx, loss).rel_error, 1e-8);
}

TEST(OpsDropout, InPlaceForward) {
  const DropoutKey k{1, 1, 1, 1};
  auto x = random_vector(500, 4);
  std::vector<double> y(500);
  lpt::ops::dropout_forward(y.data(), x.data(), 500, 0.3, k);
  lpt::ops::dropout_forward(x.data(), x.data(), 500, 0.3, k);
  EXPECT_EQ(x, y);
}

TEST(OpsDropout, ProbabilityOutOfRangeIsAnError) {
  float x = 1;
  EXPECT_THROW(lpt::ops::dropout_forward(&x, &x, 1, 1.0, DropoutKey{}), lpt::Error);
  EXPECT_THROW(lpt::ops::dropout_forward(&x, &x, 1, -0.1, DropoutKey{}), lpt::Error);
}

}  // namespace
