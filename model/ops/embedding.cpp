#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "model/ops/embedding.hpp"
#include "model/arena.hpp"
#include "util/error.hpp"

namespace lpt::ops {

template <class Idx>
static void check_tokens(const char* op, const Idx* tok, std::size_t n, int V) {
  for (std::size_t i = 0; i < n; ++i)
    if (tok[i] < 0 || tok[i] >= V)
      fail(op, ": token id ", static_cast<long long>(tok[i]), " at position ", i,
           " is outside the vocabulary [0, ", V, "); check the tokenizer and model.vocab_size");
}

template <class T, class Idx>
void embedding_forward(T* out, const Idx* tok, const T* wte, const T* wpe, int B, int T_, int C,
                       int V) {
  require(B >= 0 && T_ >= 0 && C >= 1 && V >= 1, "embedding_forward: bad sizes B=", B, " T=", T_,
          " C=", C, " V=", V);
  const std::size_t BT = std::size_t(B) * T_;
  check_tokens("embedding_forward", tok, BT, V);
#pragma omp parallel for schedule(static) if (parallel_worth(BT * C))
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(BT); ++i) {
    const T* e = wte + std::size_t(tok[i]) * C;
    T* o = out + std::size_t(i) * C;
    if (wpe) {
      const T* p = wpe + std::size_t(i % T_) * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
    } else {
      std::copy(e, e + C, o);
    }
  }
}

template <class T, class Idx>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const Idx* tok, int B, int T_, int C,
                        int V) {
  require(B >= 0 && T_ >= 0 && C >= 1 && V >= 1, "embedding_backward: bad sizes B=", B, " T=", T_,
          " C=", C, " V=", V);
  const std::size_t BT = std::size_t(B) * T_;
  if (dwte) check_tokens("embedding_backward", tok, BT, V);
  // Blocks of at least 16 columns (one cache line in float) so threads never share a line.
  const bool threads = parallel_worth(BT * C) && C >= 32;
  const int nblk = threads ? std::min(omp_get_max_threads(), C / 16) : 1;
#pragma omp parallel for schedule(static) num_threads(nblk) if (threads)
  for (int blk = 0; blk < nblk; ++blk) {
    const int c0 = int(std::int64_t(C) * blk / nblk), c1 = int(std::int64_t(C) * (blk + 1) / nblk);
    for (std::size_t i = 0; i < BT; ++i) {
      const T* g = dout + i * C;
      if (dwte) {
        T* d = dwte + std::size_t(tok[i]) * C;
#pragma omp simd
        for (int c = c0; c < c1; ++c) d[c] += g[c];
      }
      if (dwpe) {
        T* d = dwpe + (i % T_) * C;
#pragma omp simd
        for (int c = c0; c < c1; ++c) d[c] += g[c];
      }
    }
  }
}

#define LPT_INSTANTIATE(T, I)                                                                   \
  template void embedding_forward<T, I>(T*, const I*, const T*, const T*, int, int, int, int); \
  template void embedding_backward<T, I>(T*, T*, const T*, const I*, int, int, int, int);
LPT_INSTANTIATE(float, std::int32_t)
LPT_INSTANTIATE(float, std::int64_t)
LPT_INSTANTIATE(double, std::int32_t)
LPT_INSTANTIATE(double, std::int64_t)
#undef LPT_INSTANTIATE

}  // namespace lpt::ops
