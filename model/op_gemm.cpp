// GEMM through Eigen maps of the caller's row-major buffers. noalias() lets Eigen run its blocked
// kernel straight into C (no temporary); a scalar factor in front of the product is folded into
// the kernel's alpha. Eigen parallelizes a large product with OpenMP by itself and runs serially
// when called from inside a parallel region.
#include <omp.h>

// GCC 12 flags Eigen's AVX-512 intrinsics with false -Wmaybe-uninitialized warnings.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include "model/ops/gemm.hpp"
#include "util/error.hpp"

namespace lpt::ops {
namespace {

template <class T>
using CMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                        Eigen::OuterStride<>>;
template <class T>
using MMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                        Eigen::OuterStride<>>;

template <class T, class OA, class OB>
void run(MMap<T>& c, const OA& a, const OB& b, T alpha, T beta) {
  if (beta == T(0)) {
    c.noalias() = alpha * a * b;
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * a * b;
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc) {
  require(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  MMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == T(0)) c.setZero();
    else if (beta != T(1)) c *= beta;
    return;
  }
  if (!trans_a && !trans_b) {
    run(c, CMap<T>(A, M, K, Eigen::OuterStride<>(lda)), CMap<T>(B, K, N, Eigen::OuterStride<>(ldb)),
        alpha, beta);
  } else if (!trans_a && trans_b) {
    run(c, CMap<T>(A, M, K, Eigen::OuterStride<>(lda)),
        CMap<T>(B, N, K, Eigen::OuterStride<>(ldb)).transpose(), alpha, beta);
  } else if (trans_a && !trans_b) {
    run(c, CMap<T>(A, K, M, Eigen::OuterStride<>(lda)).transpose(),
        CMap<T>(B, K, N, Eigen::OuterStride<>(ldb)), alpha, beta);
  } else {
    run(c, CMap<T>(A, K, M, Eigen::OuterStride<>(lda)).transpose(),
        CMap<T>(B, N, K, Eigen::OuterStride<>(ldb)).transpose(), alpha, beta);
  }
}

template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, const T* B,
          T beta, T* C) {
  gemm(trans_a, trans_b, M, N, K, alpha, A, trans_a ? M : K, B, trans_b ? K : N, beta, C, N);
}

template <class T>
void gemm_strided_batched(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A,
                          int lda, std::int64_t stride_a, const T* B, int ldb,
                          std::int64_t stride_b, T beta, T* C, int ldc, std::int64_t stride_c,
                          int batch) {
  require(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm_strided_batched: negative size batch=",
          batch, " M=", M, " N=", N, " K=", K);
  // Below ~64k multiply-adds in total the thread fork costs more than it saves.
  const double work = double(M) * N * K * batch;
  const bool threads = batch > 1 && work >= 65536.0 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (threads)
  for (int i = 0; i < batch; ++i)
    gemm(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
         C + i * stride_c, ldc);
}

#define LPT_INSTANTIATE(T)                                                                       \
  template void gemm<T>(bool, bool, int, int, int, T, const T*, int, const T*, int, T, T*, int); \
  template void gemm<T>(bool, bool, int, int, int, T, const T*, const T*, T, T*);                \
  template void gemm_strided_batched<T>(bool, bool, int, int, int, T, const T*, int,             \
                                        std::int64_t, const T*, int, std::int64_t, T, T*, int,   \
                                        std::int64_t, int);
LPT_INSTANTIATE(float)
LPT_INSTANTIATE(double)
#undef LPT_INSTANTIATE

}  // namespace lpt::ops
