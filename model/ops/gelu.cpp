// Vectorized through Eigen arrays: Eigen's float tanh is a SIMD rational approximation (a few ulp),
// where std::tanh in a loop would stay scalar without -ffast-math. Work is cut into fixed chunks
// so that temporaries live on the stack.
// GCC 12 flags Eigen's AVX-512 intrinsics with false -Wmaybe-uninitialized warnings.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "model/ops/gelu.hpp"
#include "model/arena.hpp"
#include "util/error.hpp"

namespace lpt::ops {
namespace {

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kCubic = 0.044715;
constexpr std::ptrdiff_t kChunk = 2048;

template <class T>
using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using CMapA = Eigen::Map<const Arr<T>>;
template <class T>
using MapA = Eigen::Map<Arr<T>>;

template <class T>
void gelu_chunk(T* out, const T* inp, std::ptrdiff_t len) {
  const T k = T(kSqrt2OverPi), a = T(kCubic);
  CMapA<T> x(inp, len);
  MapA<T> y(out, len);
  y = T(0.5) * x * (T(1) + (k * (x + a * x * x * x)).tanh());
}

template <class T>
void gelu_backward_chunk(T* dinp, const T* dout, const T* inp, std::ptrdiff_t len) {
  const T k = T(kSqrt2OverPi), a = T(kCubic);
  alignas(64) T tbuf[kChunk];
  CMapA<T> x(inp, len), g(dout, len);
  MapA<T> t(tbuf, len), dx(dinp, len);
  t = (k * (x + a * x * x * x)).tanh();
  dx += g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * a * x * x));
}

// Splits [0, n) into one contiguous range per thread and each range into pieces of at most
// `chunk` (the backward's tanh temporary lives on the stack).
template <class F>
void for_chunks(std::size_t n, std::ptrdiff_t chunk, F&& f) {
  const bool threads = parallel_worth(n);
#pragma omp parallel if (threads)
  {
    const std::ptrdiff_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const std::ptrdiff_t i0 = std::ptrdiff_t(n) * id / nt, i1 = std::ptrdiff_t(n) * (id + 1) / nt;
    for (std::ptrdiff_t i = i0; i < i1; i += chunk) f(i, std::min(chunk, i1 - i));
  }
}

}  // namespace

template <class T>
void gelu_forward(T* out, const T* inp, std::size_t n) {
  for_chunks(n, std::ptrdiff_t(n), [&](std::ptrdiff_t i0, std::ptrdiff_t len) {
    gelu_chunk(out + i0, inp + i0, len);
  });
}

template <class T>
void gelu_backward(T* dinp, const T* dout, const T* inp, std::size_t n) {
  for_chunks(n, kChunk, [&](std::ptrdiff_t i0, std::ptrdiff_t len) {
    gelu_backward_chunk(dinp + i0, dout + i0, inp + i0, len);
  });
}

template <class T>
void bias_gelu_forward(T* out, T* pre, const T* b, int N, int C) {
  require(N >= 0 && C >= 1, "bias_gelu_forward: needs N >= 0 and C >= 1, got N=", N, " C=", C);
#pragma omp parallel for schedule(static) if (parallel_worth(std::size_t(N) * C))
  for (int r = 0; r < N; ++r) {
    T* p = pre + std::size_t(r) * C;
    T* y = out + std::size_t(r) * C;
    for (std::ptrdiff_t c0 = 0; c0 < C; c0 += kChunk) {
      const std::ptrdiff_t len = std::min<std::ptrdiff_t>(kChunk, C - c0);
      MapA<T>(p + c0, len) += CMapA<T>(b + c0, len);
      gelu_chunk(y + c0, p + c0, len);
    }
  }
}

template void gelu_forward<float>(float*, const float*, std::size_t);
template void gelu_forward<double>(double*, const double*, std::size_t);
template void gelu_backward<float>(float*, const float*, const float*, std::size_t);
template void gelu_backward<double>(double*, const double*, const double*, std::size_t);
template void bias_gelu_forward<float>(float*, float*, const float*, int, int);
template void bias_gelu_forward<double>(double*, double*, const double*, int, int);

}  // namespace lpt::ops
