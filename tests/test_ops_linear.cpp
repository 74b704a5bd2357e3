#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "model/ops/linear.hpp"
#include "tests/gradcheck.hpp"

using lpt::test::grad_check;
using lpt::test::random_vector;

namespace {

struct Shape {
  int N, C, OC;
};

TEST(OpsLinear, GradientsMatchFiniteDifferences) {
  for (Shape s : {Shape{1, 7, 5}, Shape{13, 5, 9}, Shape{4, 1, 1}, Shape{3, 16, 33}}) {
    auto x = random_vector(std::size_t(s.N) * s.C, 1);
    auto w = random_vector(std::size_t(s.OC) * s.C, 2);
    auto b = random_vector(s.OC, 3);
    const auto r = random_vector(std::size_t(s.N) * s.OC, 4);
    std::vector<double> out(r.size());
    auto loss = [&] {
      lpt::ops::linear_forward(out.data(), x.data(), w.data(), b.data(), s.N, s.C, s.OC);
      return lpt::test::dot(out.data(), r.data(), r.size());
    };
    // Start the gradients from non-zero values: backward must accumulate, so subtract them after.
    std::vector<double> dx(x.size(), 0.25), dw(w.size(), -0.5), db(b.size(), 1.0);
    lpt::ops::linear_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), s.N,
                              s.C, s.OC);
    for (auto& e : dx) e -= 0.25;
    for (auto& e : dw) e += 0.5;
    for (auto& e : db) e -= 1.0;
    EXPECT_LT(grad_check(x.data(), x.size(), dx, loss).rel_error, 1e-8) << "dinp N=" << s.N;
    EXPECT_LT(grad_check(w.data(), w.size(), dw, loss).rel_error, 1e-8) << "dw N=" << s.N;
    EXPECT_LT(grad_check(b.data(), b.size(), db, loss).rel_error, 1e-8) << "db N=" << s.N;
  }
}

TEST(OpsLinear, NullBiasAndNullGradientsAreSkipped) {
  const int N = 3, C = 4, OC = 2;
  auto x = random_vector(N * C, 5), w = random_vector(OC * C, 6), dout = random_vector(N * OC, 7);
  std::vector<double> out(N * OC), ref(N * OC);
  lpt::ops::linear_forward(out.data(), x.data(), w.data(), (const double*)nullptr, N, C, OC);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double s = 0;
      for (int c = 0; c < C; ++c) s += x[n * C + c] * w[o * C + c];
      EXPECT_NEAR(out[n * OC + o], s, 1e-14);
    }
  std::vector<double> dw(OC * C, 0);
  lpt::ops::linear_backward<double>(nullptr, dw.data(), nullptr, dout.data(), x.data(), w.data(),
                                    N, C, OC);
  for (int o = 0; o < OC; ++o)
    for (int c = 0; c < C; ++c) {
      double s = 0;
      for (int n = 0; n < N; ++n) s += dout[n * OC + o] * x[n * C + c];
      EXPECT_NEAR(dw[o * C + c], s, 1e-14);
    }
}

TEST(OpsLinear, FloatForwardAgreesWithDouble) {
  const int N = 37, C = 96, OC = 50;
  auto x = random_vector(N * C, 8), w = random_vector(OC * C, 9, 0.1), b = random_vector(OC, 10);
  std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end());
  std::vector<double> out(N * OC);
  std::vector<float> outf(N * OC);
  lpt::ops::linear_forward(out.data(), x.data(), w.data(), b.data(), N, C, OC);
  lpt::ops::linear_forward(outf.data(), xf.data(), wf.data(), bf.data(), N, C, OC);
  double err = 0, nrm = 0;
  for (int i = 0; i < N * OC; ++i) {
    err += (out[i] - outf[i]) * (out[i] - outf[i]);
    nrm += out[i] * out[i];
  }
  EXPECT_LT(std::sqrt(err / nrm), 1e-5);
}

TEST(OpsLinear, BiasGradientDoesNotDependOnThreadCount) {
  const int N = 512, C = 8, OC = 384;
  auto x = random_vector(N * C, 11), w = random_vector(OC * C, 12), dout = random_vector(N * OC, 13);
  std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), df(dout.begin(), dout.end());
  std::vector<float> db1(OC, 0), db2(OC, 0);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  lpt::ops::linear_backward<float>(nullptr, nullptr, db1.data(), df.data(), xf.data(), wf.data(), N,
                                   C, OC);
  omp_set_num_threads(2);
  lpt::ops::linear_backward<float>(nullptr, nullptr, db2.data(), df.data(), xf.data(), wf.data(), N,
                                   C, OC);
  omp_set_num_threads(saved);
  EXPECT_EQ(db1, db2);
}

}  // namespace
