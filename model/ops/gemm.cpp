// GEMM through Eigen maps of the caller's row-major buffers. noalias() lets Eigen run its blocked
// kernel straight into C (no temporary); a scalar factor in front of the product is folded into
// the kernel's alpha. Threads: see GemmThreading in the header; Eigen runs serially whenever it is
// called from inside a parallel region.
#include <omp.h>

// GCC 12 flags Eigen's AVX-512 intrinsics with false -Wmaybe-uninitialized warnings.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cstdint>

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

std::atomic<GemmThreading> g_threading{GemmThreading::split};

// Below this many multiply-adds a second thread costs more than it saves.
constexpr double kSplitMinWork = 1 << 20;

}  // namespace

void set_gemm_threading(GemmThreading mode) { g_threading.store(mode); }
GemmThreading gemm_threading() { return g_threading.load(); }

template <class T>
static void gemm_serial_or_eigen(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
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

// kSplit: threads take contiguous blocks of C's rows (or of its columns when C is wide), rounded
// to 16 so that blocks stay aligned with Eigen's register tiles; inside the parallel region Eigen
// runs each block serially.
template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc) {
  require(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
  const int nt = omp_get_max_threads();
  const bool split = g_threading.load() == GemmThreading::split && nt > 1 && !omp_in_parallel() &&
                     double(M) * N * K >= kSplitMinWork && std::max(M, N) >= 32;
  if (!split) {
    gemm_serial_or_eigen(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool by_rows = M >= N;
  const int len = by_rows ? M : N;
  const int blocks = std::min(nt, (len + 15) / 16);
#pragma omp parallel for schedule(static) num_threads(blocks)
  for (int t = 0; t < blocks; ++t) {
    const int i0 = int(std::int64_t(len) * t / blocks) / 16 * 16;
    const int i1 = t + 1 == blocks ? len : int(std::int64_t(len) * (t + 1) / blocks) / 16 * 16;
    if (i1 <= i0) continue;
    if (by_rows) {  // rows i0..i1 of C need rows i0..i1 of op(A)
      const T* a = trans_a ? A + i0 : A + std::int64_t(i0) * lda;
      gemm_serial_or_eigen(trans_a, trans_b, i1 - i0, N, K, alpha, a, lda, B, ldb, beta,
                           C + std::int64_t(i0) * ldc, ldc);
    } else {  // columns i0..i1 of C need columns i0..i1 of op(B)
      const T* b = trans_b ? B + std::int64_t(i0) * ldb : B + i0;
      gemm_serial_or_eigen(trans_a, trans_b, M, i1 - i0, K, alpha, A, lda, b, ldb, beta, C + i0,
                           ldc);
    }
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
