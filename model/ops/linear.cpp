#include <omp.h>

#include <algorithm>
#include <cstddef>

#include "model/ops/gemm.hpp"
#include "model/ops/linear.hpp"
#include "model/arena.hpp"
#include "util/error.hpp"

namespace lpt::ops {

template <class T>
void linear_forward(T* out, const T* inp, const T* w, const T* b, int N, int C, int OC) {
  require(N >= 0 && C >= 0 && OC >= 0, "linear_forward: negative size N=", N, " C=", C, " OC=", OC);
  if (b == nullptr) {
    gemm(false, true, N, OC, C, T(1), inp, w, T(0), out);
    return;
  }
  const std::size_t n = std::size_t(N) * OC;
#pragma omp parallel for schedule(static) if (parallel_worth(n))
  for (int r = 0; r < N; ++r) std::copy(b, b + OC, out + std::size_t(r) * OC);
  gemm(false, true, N, OC, C, T(1), inp, w, T(1), out);
}

// db[o] += Σ_n dout[n,o]: threads own disjoint column blocks and each sums its rows in order.
template <class T>
static void column_sum_add(T* db, const T* dout, int N, int OC) {
  const bool threads = parallel_worth(std::size_t(N) * OC) && OC >= 32;
  const int nblk = threads ? std::min(omp_get_max_threads(), OC / 16) : 1;
#pragma omp parallel for schedule(static) num_threads(nblk) if (threads)
  for (int blk = 0; blk < nblk; ++blk) {
    const int o0 = int(std::int64_t(OC) * blk / nblk), o1 = int(std::int64_t(OC) * (blk + 1) / nblk);
    for (int r = 0; r < N; ++r) {
      const T* row = dout + std::size_t(r) * OC;
#pragma omp simd
      for (int o = o0; o < o1; ++o) db[o] += row[o];
    }
  }
}

template <class T>
void linear_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, int N, int C,
                     int OC) {
  require(N >= 0 && C >= 0 && OC >= 0, "linear_backward: negative size N=", N, " C=", C,
          " OC=", OC);
  if (dinp) gemm(false, false, N, C, OC, T(1), dout, w, T(1), dinp);
  if (dw) gemm(true, false, OC, C, N, T(1), dout, inp, T(1), dw);
  if (db) column_sum_add(db, dout, N, OC);
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int, int, int);
template void linear_forward<double>(double*, const double*, const double*, const double*, int, int,
                                     int);
template void linear_backward<float>(float*, float*, float*, const float*, const float*,
                                     const float*, int, int, int);
template void linear_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, int, int, int);

}  // namespace lpt::ops
