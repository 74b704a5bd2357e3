#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "model/ops/layernorm.hpp"
#include "tests/gradcheck.hpp"
#include "util/error.hpp"

using lpt::test::grad_check;
using lpt::test::random_vector;

namespace {

TEST(OpsLayerNorm, ForwardMatchesDefinition) {
  const int N = 3, C = 7;
  auto x = random_vector(N * C, 1, 2.0), w = random_vector(C, 2), b = random_vector(C, 3);
  std::vector<double> out(N * C), mean(N), rstd(N);
  lpt::ops::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N,
                              C);
  for (int n = 0; n < N; ++n) {
    double m = 0, v = 0;
    for (int c = 0; c < C; ++c) m += x[n * C + c] / C;
    for (int c = 0; c < C; ++c) v += (x[n * C + c] - m) * (x[n * C + c] - m) / C;
    const double rs = 1 / std::sqrt(v + 1e-5);
    EXPECT_NEAR(mean[n], m, 1e-14);
    EXPECT_NEAR(rstd[n], rs, 1e-12);
    for (int c = 0; c < C; ++c)
      EXPECT_NEAR(out[n * C + c], (x[n * C + c] - m) * rs * w[c] + b[c], 1e-12);
  }
}

TEST(OpsLayerNorm, GradientsMatchFiniteDifferences) {
  for (auto [N, C] : {std::pair{1, 7}, std::pair{5, 5}, std::pair{4, 1}, std::pair{9, 33}}) {
    auto x = random_vector(std::size_t(N) * C, 4), w = random_vector(C, 5), b = random_vector(C, 6);
    const auto r = random_vector(std::size_t(N) * C, 7);
    std::vector<double> out(r.size()), mean(N), rstd(N);
    auto loss = [&] {
      lpt::ops::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                                  b.data(), N, C);
      return lpt::test::dot(out.data(), r.data(), r.size());
    };
    loss();
    std::vector<double> dx(x.size(), 0.5), dw(C, 0.5), db(C, 0.5);
    lpt::ops::layernorm_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(),
                                 mean.data(), rstd.data(), N, C);
    for (auto* v : {&dx, &dw, &db})
      for (auto& e : *v) e -= 0.5;  // backward accumulates onto what was there
    if (C > 1) {  // with C = 1 the output is b whatever x is: dx = 0 exactly, nothing to compare
      EXPECT_LT(grad_check(x.data(), x.size(), dx, loss).rel_error, 1e-7) << "N=" << N << " C=" << C;
    } else {
      for (double e : dx) EXPECT_NEAR(e, 0.0, 1e-12);
    }
    EXPECT_LT(grad_check(w.data(), w.size(), dw, loss).rel_error, 1e-8) << "N=" << N << " C=" << C;
    EXPECT_LT(grad_check(b.data(), b.size(), db, loss).rel_error, 1e-8) << "N=" << N << " C=" << C;
  }
}

TEST(OpsLayerNorm, FloatForwardAgreesWithDouble) {
  const int N = 64, C = 128;
  auto x = random_vector(N * C, 8, 3.0), w = random_vector(C, 9), b = random_vector(C, 10);
  for (auto& e : x) e += 5.0;  // an offset makes the mean subtraction matter
  std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end());
  std::vector<double> out(N * C);
  std::vector<float> outf(N * C);
  lpt::ops::layernorm_forward<double>(out.data(), nullptr, nullptr, x.data(), w.data(), b.data(), N,
                                      C);
  lpt::ops::layernorm_forward<float>(outf.data(), nullptr, nullptr, xf.data(), wf.data(), bf.data(),
                                     N, C);
  double err = 0, nrm = 0;
  for (int i = 0; i < N * C; ++i) {
    err += (out[i] - outf[i]) * (out[i] - outf[i]);
    nrm += out[i] * out[i];
  }
  EXPECT_LT(std::sqrt(err / nrm), 1e-5);
}

TEST(OpsLayerNorm, ParameterGradientsDoNotDependOnThreadCount) {
  const int N = 512, C = 128;
  auto x = random_vector(N * C, 11), w = random_vector(C, 12), g = random_vector(N * C, 13);
  std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), gf(g.begin(), g.end());
  std::vector<float> out(N * C), mean(N), rstd(N), bf(C, 0);
  lpt::ops::layernorm_forward(out.data(), mean.data(), rstd.data(), xf.data(), wf.data(), bf.data(),
                              N, C);
  std::vector<float> dw1(C, 0), db1(C, 0), dx1(N * C, 0), dw2(C, 0), db2(C, 0), dx2(N * C, 0);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  lpt::ops::layernorm_backward(dx1.data(), dw1.data(), db1.data(), gf.data(), xf.data(), wf.data(),
                               mean.data(), rstd.data(), N, C);
  omp_set_num_threads(2);
  lpt::ops::layernorm_backward(dx2.data(), dw2.data(), db2.data(), gf.data(), xf.data(), wf.data(),
                               mean.data(), rstd.data(), N, C);
  omp_set_num_threads(saved);
  EXPECT_EQ(dw1, dw2);
  EXPECT_EQ(db1, db2);
  EXPECT_EQ(dx1, dx2);
}

TEST(OpsLayerNorm, MissingSavedStatisticsIsAnError) {
  double x = 1, w = 1, g = 1, dx = 0;
  EXPECT_THROW(lpt::ops::layernorm_backward<double>(&dx, nullptr, nullptr, &g, &x, &w, nullptr,
                                                    nullptr, 1, 1),
               lpt::Error);
}

}  // namespace
