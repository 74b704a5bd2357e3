// The self-attention and MLP branches, forward and backward, shared by the encoder and decoder
// layer steps. Each backward walks its forward in reverse.
#include "model/blocks/branches.hpp"

#include "model/blocks/dropout.hpp"
#include "model/blocks/kernels.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/gelu.hpp"
#include "model/ops/layernorm.hpp"

namespace lpt {

template <class T>
void attention_branch_forward(const LayerCall& c, const LayerWeights<T>& w, const T* u,
                              const AttentionTape<T>& t, T* a) {
  const int N = c.rows(), d = c.dims.d;
  ops::layernorm_forward(t.ln1, t.mean1, t.rstd1, u, w[kLn1W], w[kLn1B], N, d);
  ops::linear_forward(t.qkv, t.ln1, w[kQkvW], w[kQkvB], N, d, 3 * d);
  ops::attention_forward(t.att, t.probs, t.qkv, c.self_mask, c.B, c.T, d, c.dims.H, c.causal);
  ops::linear_forward(a, t.att, w[kProjW], w[kProjB], N, d, d);
  dropout_inplace(a, std::size_t(N) * d, c.key_phi1, c.dropout);
}

template <class T>
void mlp_branch_forward(const LayerCall& c, const LayerWeights<T>& w, const T* v,
                        const MlpTape<T>& t, T* out) {
  const int N = c.rows(), d = c.dims.d, f = c.dims.dff;
  ops::layernorm_forward(t.ln2, t.mean2, t.rstd2, v, w[kLn2W], w[kLn2B], N, d);
  ops::linear_forward<T>(t.fc, t.ln2, w[kFcW], nullptr, N, d, f);
  ops::bias_gelu_forward(t.g, t.fc, w[kFcB], N, f);
  if (!out) return;
  ops::linear_forward(out, t.g, w[kFc2W], w[kFc2B], N, f, d);
  dropout_inplace(out, std::size_t(N) * d, c.key_phi2, c.dropout);
}

template <class T>
void mlp_branch_backward(const LayerCall& c, const LayerWeights<T>& w, const LayerGrads<T>& gr,
                         const T* dC, const T* v, const MlpTape<const T>& t,
                         const MlpWork<T>& k, T* dv) {
  const int N = c.rows(), d = c.dims.d, f = c.dims.dff;
  linear_backward_set(k.dg, gr[kFc2W], gr[kFc2B], dC, t.g, w[kFc2W], N, f, d);
  ops::zero(k.dfc, std::size_t(N) * f);
  ops::gelu_backward(k.dfc, k.dg, t.fc, std::size_t(N) * f);
  linear_backward_set(k.dln2, gr[kFcW], gr[kFcB], k.dfc, t.ln2, w[kFcW], N, d, f);
  ops::zero(dv, std::size_t(N) * d);
  ops::layernorm_backward(dv, gr[kLn2W], gr[kLn2B], k.dln2, v, w[kLn2W], t.mean2, t.rstd2, N, d);
}

template <class T>
void attention_branch_backward(const LayerCall& c, const LayerWeights<T>& w,
                               const LayerGrads<T>& gr, const T* D, const T* dv, const T* u,
                               const AttentionTape<const T>& t, const AttentionWork<T>& k,
                               const T* lam_next, T* lam) {
  const int N = c.rows(), d = c.dims.d;
  const std::size_t nd = std::size_t(N) * d;
  ops::add(k.da, D, dv, nd);
  dropout_inplace(k.da, nd, c.key_phi1, c.dropout);
  linear_backward_set(k.datt, gr[kProjW], gr[kProjB], k.da, t.att, w[kProjW], N, d, d);
  ops::zero(k.dqkv, nd * 3);
  ops::attention_backward(k.dqkv, k.scratch, k.datt, t.qkv, t.probs, c.B, c.T, d, c.dims.H,
                          c.causal);
  linear_backward_set(k.dln1, gr[kQkvW], gr[kQkvB], k.dqkv, t.ln1, w[kQkvW], N, d, 3 * d);
  if (lam) ops::add(lam, lam_next, dv, nd);
  ops::layernorm_backward(lam, gr[kLn1W], gr[kLn1B], k.dln1, u, w[kLn1W], t.mean1, t.rstd1, N, d);
}

#define LPT_INSTANTIATE(T)                                                                       \
  template void attention_branch_forward<T>(const LayerCall&, const LayerWeights<T>&, const T*,  \
                                            const AttentionTape<T>&, T*);                        \
  template void mlp_branch_forward<T>(const LayerCall&, const LayerWeights<T>&, const T*,        \
                                      const MlpTape<T>&, T*);                                    \
  template void mlp_branch_backward<T>(const LayerCall&, const LayerWeights<T>&,                 \
                                       const LayerGrads<T>&, const T*, const T*,                 \
                                       const MlpTape<const T>&, const MlpWork<T>&, T*);          \
  template void attention_branch_backward<T>(                                                    \
      const LayerCall&, const LayerWeights<T>&, const LayerGrads<T>&, const T*, const T*,        \
      const T*, const AttentionTape<const T>&, const AttentionWork<T>&, const T*, T*);
LPT_INSTANTIATE(float)
LPT_INSTANTIATE(double)
#undef LPT_INSTANTIATE

}  // namespace lpt
