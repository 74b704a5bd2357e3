#pragma once
// Element-wise helpers for residual streams and the ODE step u' = u + h·(a + c). Outputs may alias
// inputs (every element is read before it is written, at the same index). Large arrays use OpenMP
// unless called from inside a parallel region.
#include <cstddef>

namespace lpt::ops {

// out[n] = x + h·a
template <class T>
void axpy(T* out, const T* x, const T* a, T h, std::size_t n);
// dx[n] += dout ; da[n] += h·dout        (either may be null)
template <class T>
void axpy_backward(T* dx, T* da, const T* dout, T h, std::size_t n);

// y[n] += h·x     (BLAS axpy)
template <class T>
void accumulate(T* y, const T* x, T h, std::size_t n);

// out[n] = a + b
template <class T>
void add(T* out, const T* a, const T* b, std::size_t n);
// da[n] += dout ; db[n] += dout           (either may be null)
template <class T>
void add_backward(T* da, T* db, const T* dout, std::size_t n);

// The pre-LN step: out[n] = u + h·(a + c)
template <class T>
void residual_step(T* out, const T* u, const T* a, const T* c, T h, std::size_t n);
// du[n] += dout ; da[n] += h·dout ; dc[n] += h·dout       (any may be null)
template <class T>
void residual_step_backward(T* du, T* da, T* dc, const T* dout, T h, std::size_t n);

// out[n] = s·x
template <class T>
void scale(T* out, const T* x, T s, std::size_t n);
// dx[n] += s·dout
template <class T>
void scale_backward(T* dx, const T* dout, T s, std::size_t n);

// out[n] = x
template <class T>
void copy(T* out, const T* x, std::size_t n);
// out[n] = 0
template <class T>
void zero(T* out, std::size_t n);

}  // namespace lpt::ops
