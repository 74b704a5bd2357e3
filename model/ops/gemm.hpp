#pragma once
// The one matrix-product entry point every op uses (Eigen's GEMM underneath, see model/ops/gemm.cpp).
// All matrices are row-major raw buffers; a leading dimension is the distance in elements between
// consecutive rows of the matrix as stored (so a transposed operand [K,M] has ld >= M).
#include <cstdint>

namespace lpt::ops {

// C[M,N] = alpha · op(A) · op(B) + beta · C
//   op(A)[M,K] = trans_a ? A[K,M]^T : A[M,K]      (A stored with leading dimension lda)
//   op(B)[K,N] = trans_b ? B[N,K]^T : B[K,N]      (B stored with leading dimension ldb)
// beta == 0 overwrites C (NaNs in C do not propagate); beta == 1 accumulates. K == 0 gives
// C = beta·C. C must not alias A or B.
template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc);

// How a single large product uses the OpenMP threads (process-wide; default kSplit):
//  kSplit: gemm() cuts C into one block of rows (or columns) per thread and each thread runs a
//          serial Eigen product on its block; the only synchronization is the join at the end.
//  kEigen: Eigen's own parallel GEMM, whose threads share packed panels and spin-wait on each
//          other: fine on idle cores, but 10-30x slower at these sizes when the cores are
//          oversubscribed (measured, docs/ops.md).
// Inside a parallel region (MGRIT's threads) both run serially.
enum class GemmThreading { split, eigen };
void set_gemm_threading(GemmThreading mode);
GemmThreading gemm_threading();

// Same with densely packed operands: lda = trans_a ? M : K, ldb = trans_b ? K : N, ldc = N.
template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, const T* B,
          T beta, T* C);

// For i in [0, batch): C_i = alpha · op(A_i) · op(B_i) + beta · C_i with X_i = X + i·stride_x
// (the per-(batch, head) products of attention). Batches run on separate OpenMP threads when
// there is enough work and we are not already in a parallel region; each product is then
// single-threaded, so results do not depend on the thread count.
template <class T>
void gemm_strided_batched(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A,
                          int lda, std::int64_t stride_a, const T* B, int ldb,
                          std::int64_t stride_b, T beta, T* C, int ldc, std::int64_t stride_c,
                          int batch);

}  // namespace lpt::ops
