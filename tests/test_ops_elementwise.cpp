#include <gtest/gtest.h>

#include <vector>

#include "model/ops/elementwise.hpp"
#include "tests/gradcheck.hpp"

using lpt::test::grad_check;
using lpt::test::random_vector;

namespace {

TEST(OpsElementwise, ForwardDefinitions) {
  // Long enough to take the OpenMP path, odd so that the split is uneven.
  const std::size_t n = (1 << 16) + 3;
  auto u = random_vector(n, 1), a = random_vector(n, 2), c = random_vector(n, 3);
  std::vector<double> o(n);
  lpt::ops::axpy(o.data(), u.data(), a.data(), 0.25, n);
  for (std::size_t i = 0; i < n; i += 997) EXPECT_DOUBLE_EQ(o[i], u[i] + 0.25 * a[i]);
  lpt::ops::residual_step(o.data(), u.data(), a.data(), c.data(), 0.5, n);
  for (std::size_t i = 0; i < n; i += 997) EXPECT_DOUBLE_EQ(o[i], u[i] + 0.5 * (a[i] + c[i]));
  lpt::ops::add(o.data(), u.data(), a.data(), n);
  for (std::size_t i = 0; i < n; i += 997) EXPECT_DOUBLE_EQ(o[i], u[i] + a[i]);
  lpt::ops::scale(o.data(), u.data(), -3.0, n);
  for (std::size_t i = 0; i < n; i += 997) EXPECT_DOUBLE_EQ(o[i], -3.0 * u[i]);
  lpt::ops::copy(o.data(), a.data(), n);
  EXPECT_EQ(o, a);
  lpt::ops::accumulate(o.data(), u.data(), 2.0, n);
  for (std::size_t i = 0; i < n; i += 997) EXPECT_DOUBLE_EQ(o[i], a[i] + 2.0 * u[i]);
  lpt::ops::zero(o.data(), n);
  EXPECT_EQ(o, std::vector<double>(n, 0.0));
}

TEST(OpsElementwise, InPlaceAxpy) {
  auto u = random_vector(9, 4), a = random_vector(9, 5);
  auto y = u;
  lpt::ops::axpy(y.data(), y.data(), a.data(), 0.1, 9);
  for (int i = 0; i < 9; ++i) EXPECT_DOUBLE_EQ(y[i], u[i] + 0.1 * a[i]);
}

TEST(OpsElementwise, ResidualStepGradients) {
  const std::size_t n = 11;
  const double h = 0.3;
  auto u = random_vector(n, 6), a = random_vector(n, 7), c = random_vector(n, 8);
  const auto r = random_vector(n, 9);
  std::vector<double> o(n);
  auto loss = [&] {
    lpt::ops::residual_step(o.data(), u.data(), a.data(), c.data(), h, n);
    return lpt::test::dot(o.data(), r.data(), n);
  };
  std::vector<double> du(n, 0), da(n, 0), dc(n, 0);
  lpt::ops::residual_step_backward(du.data(), da.data(), dc.data(), r.data(), h, n);
  EXPECT_LT(grad_check(u.data(), n, du, loss).rel_error, 1e-8);
  EXPECT_LT(grad_check(a.data(), n, da, loss).rel_error, 1e-8);
  EXPECT_LT(grad_check(c.data(), n, dc, loss).rel_error, 1e-8);

  std::vector<double> dx(n, 0), dy(n, 0);
  auto loss2 = [&] {
    lpt::ops::axpy(o.data(), u.data(), a.data(), h, n);
    return lpt::test::dot(o.data(), r.data(), n);
  };
  lpt::ops::axpy_backward(dx.data(), dy.data(), r.data(), h, n);
  EXPECT_LT(grad_check(u.data(), n, dx, loss2).rel_error, 1e-8);
  EXPECT_LT(grad_check(a.data(), n, dy, loss2).rel_error, 1e-8);

  std::vector<double> ds(n, 0);
  auto loss3 = [&] {
    lpt::ops::scale(o.data(), u.data(), -h, n);
    return lpt::test::dot(o.data(), r.data(), n);
  };
  lpt::ops::scale_backward(ds.data(), r.data(), -h, n);
  EXPECT_LT(grad_check(u.data(), n, ds, loss3).rel_error, 1e-8);

  std::vector<double> d1(n, 0), d2(n, 0);
  lpt::ops::add_backward(d1.data(), d2.data(), r.data(), n);
  EXPECT_EQ(d1, r);
  EXPECT_EQ(d2, r);
}

}  // namespace
