#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model/ops/dropout.hpp"
#include "model/arena.hpp"
#include "util/error.hpp"

namespace lpt::ops {

static void check_p(const char* op, double p) {
  require(p >= 0.0 && p < 1.0, op, ": dropout probability must be in [0, 1), got ", p);
}

template <class T>
void dropout_forward(T* out, const T* inp, std::size_t n, double p, const DropoutKey& key,
                     std::uint64_t first_index) {
  check_p("dropout_forward", p);
  if (p == 0.0) {
    if (out != inp && n) std::memcpy(out, inp, n * sizeof(T));
    return;
  }
  const std::uint64_t s = dropout_stream(key), thr = dropout_threshold(p);
  const T scale = T(1.0 / (1.0 - p));
  const std::ptrdiff_t len = std::ptrdiff_t(n);
#pragma omp parallel for simd schedule(static) if (parallel_worth(n))
  for (std::ptrdiff_t i = 0; i < len; ++i)
    out[i] = dropout_keep(s, first_index + std::uint64_t(i), thr) ? inp[i] * scale : T(0);
}

template <class T>
void dropout_backward(T* dinp, const T* dout, std::size_t n, double p, const DropoutKey& key,
                      std::uint64_t first_index) {
  check_p("dropout_backward", p);
  const std::ptrdiff_t len = std::ptrdiff_t(n);
  if (p == 0.0) {
#pragma omp parallel for simd schedule(static) if (parallel_worth(n))
    for (std::ptrdiff_t i = 0; i < len; ++i) dinp[i] += dout[i];
    return;
  }
  const std::uint64_t s = dropout_stream(key), thr = dropout_threshold(p);
  const T scale = T(1.0 / (1.0 - p));
#pragma omp parallel for simd schedule(static) if (parallel_worth(n))
  for (std::ptrdiff_t i = 0; i < len; ++i)
    dinp[i] += dropout_keep(s, first_index + std::uint64_t(i), thr) ? dout[i] * scale : T(0);
}

template void dropout_forward<float>(float*, const float*, std::size_t, double, const DropoutKey&,
                                     std::uint64_t);
template void dropout_forward<double>(double*, const double*, std::size_t, double,
                                      const DropoutKey&, std::uint64_t);
template void dropout_backward<float>(float*, const float*, std::size_t, double, const DropoutKey&,
                                      std::uint64_t);
template void dropout_backward<double>(double*, const double*, std::size_t, double,
                                       const DropoutKey&, std::uint64_t);

}  // namespace lpt::ops
