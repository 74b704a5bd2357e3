#include <cstddef>
#include <cstring>

#include "model/ops/elementwise.hpp"
#include "model/arena.hpp"

namespace lpt::ops {

// Each helper is one simd loop; the OpenMP split is static so an element is always touched by the
// same arithmetic whatever the thread count.
#define LPT_EW_LOOP(n, body)                                                  \
  do {                                                                        \
    const std::ptrdiff_t n_ = std::ptrdiff_t(n);                              \
    _Pragma("omp parallel for simd schedule(static) if (parallel_worth(n))") \
    for (std::ptrdiff_t i = 0; i < n_; ++i) { body; }                         \
  } while (0)

template <class T>
void axpy(T* out, const T* x, const T* a, T h, std::size_t n) {
  LPT_EW_LOOP(n, out[i] = x[i] + h * a[i]);
}
template <class T>
void axpy_backward(T* dx, T* da, const T* dout, T h, std::size_t n) {
  if (dx) accumulate(dx, dout, T(1), n);
  if (da) accumulate(da, dout, h, n);
}
template <class T>
void accumulate(T* y, const T* x, T h, std::size_t n) {
  if (h == T(1)) LPT_EW_LOOP(n, y[i] += x[i]);
  else LPT_EW_LOOP(n, y[i] += h * x[i]);
}
template <class T>
void add(T* out, const T* a, const T* b, std::size_t n) {
  LPT_EW_LOOP(n, out[i] = a[i] + b[i]);
}
template <class T>
void add_backward(T* da, T* db, const T* dout, std::size_t n) {
  if (da) accumulate(da, dout, T(1), n);
  if (db) accumulate(db, dout, T(1), n);
}
template <class T>
void residual_step(T* out, const T* u, const T* a, const T* c, T h, std::size_t n) {
  LPT_EW_LOOP(n, out[i] = u[i] + h * (a[i] + c[i]));
}
template <class T>
void residual_step_backward(T* du, T* da, T* dc, const T* dout, T h, std::size_t n) {
  if (du) accumulate(du, dout, T(1), n);
  if (da) accumulate(da, dout, h, n);
  if (dc) accumulate(dc, dout, h, n);
}
template <class T>
void scale(T* out, const T* x, T s, std::size_t n) {
  LPT_EW_LOOP(n, out[i] = s * x[i]);
}
template <class T>
void scale_backward(T* dx, const T* dout, T s, std::size_t n) {
  accumulate(dx, dout, s, n);
}
template <class T>
void copy(T* out, const T* x, std::size_t n) {
  if (out != x && n) std::memcpy(out, x, n * sizeof(T));
}
template <class T>
void zero(T* out, std::size_t n) {
  if (n) std::memset(out, 0, n * sizeof(T));
}

#undef LPT_EW_LOOP

#define LPT_INSTANTIATE(T)                                                             \
  template void axpy<T>(T*, const T*, const T*, T, std::size_t);                       \
  template void axpy_backward<T>(T*, T*, const T*, T, std::size_t);                    \
  template void accumulate<T>(T*, const T*, T, std::size_t);                           \
  template void add<T>(T*, const T*, const T*, std::size_t);                           \
  template void add_backward<T>(T*, T*, const T*, std::size_t);                        \
  template void residual_step<T>(T*, const T*, const T*, const T*, T, std::size_t);    \
  template void residual_step_backward<T>(T*, T*, T*, const T*, T, std::size_t);       \
  template void scale<T>(T*, const T*, T, std::size_t);                                \
  template void scale_backward<T>(T*, const T*, T, std::size_t);                       \
  template void copy<T>(T*, const T*, std::size_t);                                    \
  template void zero<T>(T*, std::size_t);
LPT_INSTANTIATE(float)
LPT_INSTANTIATE(double)
#undef LPT_INSTANTIATE

}  // namespace lpt::ops
