#pragma once
// One encoder / GPT / BERT / ViT layer as an ODE step (pre-LN):
//   a = drop1(Attn(LN1(u))),  v = u + a,  c = drop2(MLP(LN2(v))),  u' = u + h (a + c)
// Attention mask: causal and/or key padding from LayerCall. N = B·T rows of width d.
#include <cstddef>

#include "model/blocks/layer.hpp"

namespace lpt {

// Offsets (elements) of what forward keeps for backward; `size` is the tape length:
// N(7d + 2 d_ff + 4) + B·H·T² elements plus 64-byte padding per buffer.
struct EncoderTape {
  std::size_t ln1, mean1, rstd1, qkv, att, probs, v, ln2, mean2, rstd2, fc, g, size;
};
template <class T>
EncoderTape encoder_tape(const LayerCall& c);

// Scratch elements encoder_forward / encoder_backward need (attn_threads: see
// attention_scratch_size). The recompute path (tape == nullptr) adds encoder_tape(c).size.
template <class T>
std::size_t encoder_work_size(const LayerCall& c, int attn_threads);

// u[N,d] -> u_next[N,d] (may alias u). tape: encoder_tape(c).size elements, filled. u_next may be
// null: then only the tape is filled (the backward's recompute; the last GEMM is skipped).
template <class T>
void encoder_forward(const LayerCall& c, const LayerWeights<T>& w, T h, const T* u, T* u_next,
                     T* tape, T* work);

// lam (if non-null) = lam_next + h (∂F/∂u)^T lam_next (written; may alias lam_next);
// grads (non-null entries) += h (∂F/∂θ)^T lam_next. tape from encoder_forward with this u.
template <class T>
void encoder_backward(const LayerCall& c, const LayerWeights<T>& w, const LayerGrads<T>& g, T h,
                      const T* u, const T* tape, const T* lam_next, T* lam, T* work);

}  // namespace lpt
