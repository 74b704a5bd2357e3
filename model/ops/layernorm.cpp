#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "model/ops/layernorm.hpp"
#include "model/arena.hpp"
#include "util/error.hpp"

namespace lpt::ops {

template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N,
                       int C) {
  require(N >= 0 && C >= 1, "layernorm_forward: needs N >= 0 and C >= 1, got N=", N, " C=", C);
#pragma omp parallel for schedule(static) if (parallel_worth(std::size_t(N) * C))
  for (int r = 0; r < N; ++r) {
    const T* x = inp + std::size_t(r) * C;
    T* y = out + std::size_t(r) * C;
    // Two passes (mean, then squared deviations) avoid the cancellation of E[x²] − E[x]².
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; ++c) s += x[c];
    const T m = s / T(C);
    T v = 0;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    const T rs = T(1) / std::sqrt(v / T(C) + T(kLayerNormEps));
#pragma omp simd
    for (int c = 0; c < C; ++c) y[c] = (x[c] - m) * rs * w[c] + b[c];
    if (mean) mean[r] = m;
    if (rstd) rstd[r] = rs;
  }
}

template <class T>
static void layernorm_dinp(T* dinp, const T* dout, const T* inp, const T* w, const T* mean,
                           const T* rstd, int N, int C) {
#pragma omp parallel for schedule(static) if (parallel_worth(std::size_t(N) * C))
  for (int r = 0; r < N; ++r) {
    const T* x = inp + std::size_t(r) * C;
    const T* g = dout + std::size_t(r) * C;
    T* dx = dinp + std::size_t(r) * C;
    const T m = mean[r], rs = rstd[r];
    T sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int c = 0; c < C; ++c) {
      const T gw = g[c] * w[c];
      sg += gw;
      sgx += gw * (x[c] - m) * rs;
    }
    const T mg = sg / T(C), mgx = sgx / T(C);
#pragma omp simd
    for (int c = 0; c < C; ++c) dx[c] += rs * (g[c] * w[c] - mg - (x[c] - m) * rs * mgx);
  }
}

// dw/db: threads own disjoint column blocks and walk the rows in order (deterministic sums).
template <class T>
static void layernorm_dparams(T* dw, T* db, const T* dout, const T* inp, const T* mean,
                              const T* rstd, int N, int C) {
  const bool threads = parallel_worth(std::size_t(N) * C) && C >= 32;
  const int nblk = threads ? std::min(omp_get_max_threads(), C / 16) : 1;
#pragma omp parallel for schedule(static) num_threads(nblk) if (threads)
  for (int blk = 0; blk < nblk; ++blk) {
    const int c0 = int(std::int64_t(C) * blk / nblk), c1 = int(std::int64_t(C) * (blk + 1) / nblk);
    for (int r = 0; r < N; ++r) {
      const T* x = inp + std::size_t(r) * C;
      const T* g = dout + std::size_t(r) * C;
      const T m = mean[r], rs = rstd[r];
      if (dw) {
#pragma omp simd
        for (int c = c0; c < c1; ++c) dw[c] += g[c] * (x[c] - m) * rs;
      }
      if (db) {
#pragma omp simd
        for (int c = c0; c < c1; ++c) db[c] += g[c];
      }
    }
  }
}

template <class T>
void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w,
                        const T* mean, const T* rstd, int N, int C) {
  require(N >= 0 && C >= 1, "layernorm_backward: needs N >= 0 and C >= 1, got N=", N, " C=", C);
  require(mean != nullptr && rstd != nullptr,
          "layernorm_backward: mean and rstd from layernorm_forward are required");
  if (dinp) layernorm_dinp(dinp, dout, inp, w, mean, rstd, N, C);
  if (dw || db) layernorm_dparams(dw, db, dout, inp, mean, rstd, N, C);
}

template void layernorm_forward<float>(float*, float*, float*, const float*, const float*,
                                       const float*, int, int);
template void layernorm_forward<double>(double*, double*, double*, const double*, const double*,
                                        const double*, int, int);
template void layernorm_backward<float>(float*, float*, float*, const float*, const float*,
                                        const float*, const float*, const float*, int, int);
template void layernorm_backward<double>(double*, double*, double*, const double*, const double*,
                                         const double*, const double*, const double*, int, int);

}  // namespace lpt::ops
