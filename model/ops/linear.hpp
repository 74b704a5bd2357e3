#pragma once
// Fully connected layer, torch.nn.Linear layout: weight [OC, C] (out, in), y = x W^T + b.
namespace lpt::ops {

// out[N,OC] = inp[N,C] · w[OC,C]^T + b[OC]   (b may be null)
// The bias is written first and the GEMM accumulates onto it, so the bias costs no extra pass.
template <class T>
void linear_forward(T* out, const T* inp, const T* w, const T* b, int N, int C, int OC);

// dinp[N,C] += dout[N,OC] · w[OC,C] ; dw[OC,C] += dout^T · inp (one GEMM over all N rows) ;
// db[OC] += Σ_n dout[n,:]   (any of dinp/dw/db may be null)
// db is summed over rows in a fixed order per column, so it does not depend on the thread count.
template <class T>
void linear_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, int N, int C,
                     int OC);

}  // namespace lpt::ops
