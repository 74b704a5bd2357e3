#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "model/ops/gemm.hpp"
#include "util/error.hpp"

namespace {

template <class T>
std::vector<T> rnd(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(n);
  for (auto& e : v) e = T(u(g));
  return v;
}

// Direct triple loop in long double: the definition gemm() must reproduce.
template <class T>
void naive(bool ta, bool tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
           T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      long double s = 0;
      for (int k = 0; k < K; ++k) {
        const T a = ta ? A[k * lda + i] : A[i * lda + k];
        const T b = tb ? B[j * ldb + k] : B[k * ldb + j];
        s += (long double)a * b;
      }
      const long double prev = beta == T(0) ? 0.0L : (long double)beta * C[i * ldc + j];
      C[i * ldc + j] = T(alpha * s + prev);
    }
}

struct Case {
  int M, N, K;
};

template <class T>
void check_all_variants(double tol) {
  for (Case cs : {Case{1, 1, 1}, Case{7, 5, 3}, Case{33, 17, 65}, Case{64, 130, 40}, Case{5, 9, 0},
                   // big enough for the threaded split, by rows and by columns
                   Case{300, 70, 64}, Case{40, 600, 64}})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (T beta : {T(0), T(1), T(0.5)}) {
          const int M = cs.M, N = cs.N, K = cs.K;
          // Padded leading dimensions catch a variant that assumes dense rows.
          const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
          auto A = rnd<T>(std::size_t(ta ? K : M) * lda + 1, 1);
          auto B = rnd<T>(std::size_t(tb ? N : K) * ldb + 1, 2);
          auto C = rnd<T>(std::size_t(M) * ldc, 3);
          if (beta == T(0)) C[0] = std::numeric_limits<T>::quiet_NaN();  // must be overwritten
          auto R = C;
          lpt::ops::gemm<T>(ta, tb, M, N, K, T(0.75), A.data(), lda, B.data(), ldb, beta, C.data(),
                            ldc);
          naive<T>(ta, tb, M, N, K, T(0.75), A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
          for (std::size_t i = 0; i < C.size(); ++i)
            ASSERT_NEAR(C[i], R[i], tol) << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta
                                         << " tb=" << tb << " beta=" << beta << " i=" << i;
        }
}

TEST(OpsGemm, AllTranspositionsMatchDirectSumDouble) { check_all_variants<double>(1e-12); }
TEST(OpsGemm, AllTranspositionsMatchDirectSumFloat) { check_all_variants<float>(2e-5); }

TEST(OpsGemm, BothThreadingModesMatchDirectSum) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  for (auto mode : {lpt::ops::GemmThreading::eigen, lpt::ops::GemmThreading::split}) {
    lpt::ops::set_gemm_threading(mode);
    check_all_variants<double>(1e-12);
  }
  omp_set_num_threads(saved);
}

TEST(OpsGemm, DenseOverloadUsesPackedLeadingDimensions) {
  const int M = 6, N = 4, K = 5;
  auto A = rnd<double>(K * M, 4), B = rnd<double>(N * K, 5);
  std::vector<double> C(M * N, 0), R(M * N, 0);
  lpt::ops::gemm<double>(true, true, M, N, K, 1.0, A.data(), B.data(), 0.0, C.data());
  naive<double>(true, true, M, N, K, 1.0, A.data(), M, B.data(), K, 0.0, R.data(), N);
  for (int i = 0; i < M * N; ++i) EXPECT_NEAR(C[i], R[i], 1e-12);
}

TEST(OpsGemm, StridedBatchedEqualsLoopOfProducts) {
  // Attention-like: per (batch, head) blocks of a [B,T,3,H,hs] buffer, strides over heads.
  const int batch = 6, M = 9, N = 9, K = 4, ld = 3 * 2 * K;
  auto A = rnd<double>(std::size_t(batch) * 100 + M * ld, 6);
  auto B = rnd<double>(std::size_t(batch) * 100 + N * ld, 7);
  std::vector<double> C(std::size_t(batch) * M * N, 1.0), R = C;
  lpt::ops::gemm_strided_batched<double>(false, true, M, N, K, 0.5, A.data(), ld, 100, B.data(), ld,
                                         100, 1.0, C.data(), N, M * N, batch);
  for (int b = 0; b < batch; ++b)
    naive<double>(false, true, M, N, K, 0.5, A.data() + b * 100, ld, B.data() + b * 100, ld, 1.0,
                  R.data() + b * M * N, N);
  for (std::size_t i = 0; i < C.size(); ++i) EXPECT_NEAR(C[i], R[i], 1e-12);
}

TEST(OpsGemm, NegativeSizeIsAnError) {
  double x = 0;
  EXPECT_THROW(lpt::ops::gemm<double>(false, false, -1, 1, 1, 1.0, &x, &x, 0.0, &x), lpt::Error);
}

}  // namespace
