#pragma once
// Small compositions of the basic ops that the layer backward passes use more than once.
#include "model/ops/gemm.hpp"
#include "model/ops/linear.hpp"

namespace lpt {

// dinp[N,C] = dout[N,OC] · w[OC,C] (WRITTEN, saving the zero-fill an accumulating backward would
// need); dw[OC,C] += dout^T · inp, db[OC] += Σ_n dout (skipped when null).
template <class T>
void linear_backward_set(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, int N,
                         int C, int OC) {
  ops::gemm(false, false, N, C, OC, T(1), dout, w, T(0), dinp);
  if (dw || db) ops::linear_backward<T>(nullptr, dw, db, dout, inp, w, N, C, OC);
}

}  // namespace lpt
