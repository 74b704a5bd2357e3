#pragma once
// LayerNorm over the last dimension, as torch.nn.LayerNorm(C, eps=1e-5): biased variance, affine.
namespace lpt::ops {

constexpr double kLayerNormEps = 1e-5;  // docs/parameters.md

// out[N,C] = (inp - mean) · rstd · w[C] + b[C],  rstd = 1 / sqrt(var + 1e-5)
// Saves mean[N] and rstd[N] for the backward (either may be null when no backward follows).
// out may alias inp.
template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N, int C);

// dinp[N,C] += rstd · (g − mean_c(g) − x̂ · mean_c(g · x̂)),  g = dout · w,  x̂ = (inp − mean) · rstd
// dw[C] += Σ_n dout · x̂ ;  db[C] += Σ_n dout      (any of dinp/dw/db may be null)
// mean/rstd are the forward's saved buffers. Row reductions for dw/db run in row order for
// every column, so results do not depend on the thread count. dinp must not alias dout.
template <class T>
void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w,
                        const T* mean, const T* rstd, int N, int C);

}  // namespace lpt::ops
