#pragma once
// GELU, tanh approximation (torch: F.gelu(x, approximate="tanh")), docs/parameters.md.
#include <cstddef>

namespace lpt::ops {

// out[n] = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))     (out may alias inp)
template <class T>
void gelu_forward(T* out, const T* inp, std::size_t n);

// dinp[n] += dout · gelu'(inp)       (inp is the forward's input; dinp may alias dout)
// gelu'(x) = 0.5 (1 + t) + 0.5 x (1 − t²) √(2/π) (1 + 3·0.044715 x²),  t = tanh(√(2/π)(x + 0.044715 x³))
template <class T>
void gelu_backward(T* dinp, const T* dout, const T* inp, std::size_t n);

// Fused bias + GELU for the MLP: pre[N,C] += b[C] in place (pre is what the backward needs), then
// out[N,C] = gelu(pre). Pair with linear_forward(pre, x, w, nullptr, ...) to save a pass.
template <class T>
void bias_gelu_forward(T* out, T* pre, const T* b, int N, int C);

}  // namespace lpt::ops
