#pragma once
// One decoder layer (translation) as an ODE step, pre-LN, memory X = the frozen encoder output:
//   a = drop1(SelfAttn_causal(LN1(y))),              v1 = y + a
//   b = drop3(CrossAttn(LNq(v1), LNkv(X))),           v2 = v1 + b     (memory key padding)
//   c = drop2(MLP(LN2(v2))),                          y' = y + h (a + b + c)
// y[B,T,d] with T = LayerCall::T (target length), X[B,Tmem,d].
#include <cstddef>

#include "model/blocks/layer.hpp"

namespace lpt {

// Offsets (elements) of what forward keeps; `size` is the tape length:
// N(11d + 2 d_ff + 6) + M(3d + 2) + B·H·T·(T + Tmem), N = B·T, M = B·Tmem, plus padding.
struct DecoderTape {
  std::size_t ln1, mean1, rstd1, qkv, att, probs, v1, lnq, meanq, rstdq, q, lnkv, meankv, rstdkv,
      kv, catt, cprobs, v2, ln2, mean2, rstd2, fc, g, size;
};
template <class T>
DecoderTape decoder_tape(const LayerCall& c);

template <class T>
std::size_t decoder_work_size(const LayerCall& c, int attn_threads);

// y[N,d] -> y_next (may alias y, or null: fill the tape only). x_mem[M,d] is read only.
template <class T>
void decoder_forward(const LayerCall& c, const LayerWeights<T>& w, T h, const T* y, const T* x_mem,
                     T* y_next, T* tape, T* work);

// lam (if non-null) = lam_next + h (∂F/∂y)^T lam_next (written, may alias lam_next);
// lam_mem (if non-null) += h (∂F/∂X)^T lam_next; grads (non-null) += h (∂F/∂θ)^T lam_next.
template <class T>
void decoder_backward(const LayerCall& c, const LayerWeights<T>& w, const LayerGrads<T>& g, T h,
                      const T* y, const T* x_mem, const T* tape, const T* lam_next, T* lam,
                      T* lam_mem, T* work);

}  // namespace lpt
