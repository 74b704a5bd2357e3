#pragma once
// The two pre-LN branches every layer kind shares, as forward/backward pairs:
//   self-attention  a = drop1(proj(Attn(LN1(u))))        (encoder, GPT, BERT, ViT, decoder)
//   MLP             c = drop2(fc2(gelu(fc(LN2(v)))))      (every layer)
// A layer step composes them with its residual sums (and the decoder with cross-attention in
// between), so each branch's backward exists once. N = c.rows() rows of width d, f = d_ff.
#include "model/blocks/layer.hpp"

namespace lpt {

// What the self-attention branch keeps for backward (pointers into the layer's tape).
template <class T>
struct AttentionTape {
  T* ln1;    // [N, d]
  T* mean1;  // [N]
  T* rstd1;  // [N]
  T* qkv;    // [N, 3d]
  T* att;    // [N, d]
  T* probs;  // [B, H, T, T]
};

// What the MLP branch keeps for backward.
template <class T>
struct MlpTape {
  T* ln2;    // [N, d]
  T* mean2;  // [N]
  T* rstd2;  // [N]
  T* fc;     // [N, f] before the bias and gelu
  T* g;      // [N, f] gelu(fc + b)
};

// The branch tapes inside a layer's tape, whose offsets struct names the same fields
// (EncoderTape, DecoderTape). U is T or const T.
template <class U, class Offsets>
AttentionTape<U> attention_tape_at(U* tape, const Offsets& o) {
  return {tape + o.ln1, tape + o.mean1, tape + o.rstd1, tape + o.qkv, tape + o.att,
          tape + o.probs};
}
template <class U, class Offsets>
MlpTape<U> mlp_tape_at(U* tape, const Offsets& o) {
  return {tape + o.ln2, tape + o.mean2, tape + o.rstd2, tape + o.fc, tape + o.g};
}

// Backward buffers of the self-attention branch (caller's workspace).
template <class T>
struct AttentionWork {
  T* da;       // [N, d]
  T* datt;     // [N, d]
  T* dqkv;     // [N, 3d]
  T* dln1;     // [N, d]
  T* scratch;  // attention_scratch_size(T, T, attention_threads())
};

// Backward buffers of the MLP branch.
template <class T>
struct MlpWork {
  T* dg;    // [N, f]
  T* dfc;   // [N, f]
  T* dln2;  // [N, d]
};

// a[N,d] = drop1(proj(Attn(LN1(u)))); fills the tape.
template <class T>
void attention_branch_forward(const LayerCall& c, const LayerWeights<T>& w, const T* u,
                              const AttentionTape<T>& t, T* a);

// Tapes LN2(v), fc and g; then, when out is non-null, out[N,d] = drop2(fc2(g)) (null: the
// backward's recompute, which needs only the tape).
template <class T>
void mlp_branch_forward(const LayerCall& c, const LayerWeights<T>& w, const T* v,
                        const MlpTape<T>& t, T* out);

// dC[N,d] is the gradient at the branch output (after dropout). dv[N,d] = (∂c/∂v)^T dC
// (written); grads of fc, fc2, LN2 (non-null entries) accumulate. v is the branch input.
template <class T>
void mlp_branch_backward(const LayerCall& c, const LayerWeights<T>& w, const LayerGrads<T>& gr,
                         const T* dC, const T* v, const MlpTape<const T>& t,
                         const MlpWork<T>& k, T* dv);

// The branch's output a reaches the next state directly (D = h·lam_next) and through the next
// branch's input (dv), so its gradient is D + dv. lam (if non-null) = lam_next + dv +
// (∂a/∂u)^T (D + dv) (written; may alias lam_next); grads of qkv, proj, LN1 accumulate.
template <class T>
void attention_branch_backward(const LayerCall& c, const LayerWeights<T>& w,
                               const LayerGrads<T>& gr, const T* D, const T* dv, const T* u,
                               const AttentionTape<const T>& t, const AttentionWork<T>& k,
                               const T* lam_next, T* lam);

}  // namespace lpt
