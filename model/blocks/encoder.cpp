// The encoder-style layer step and its vector-Jacobian product. Backward walks the forward in
// reverse: D = h·lam_next enters both branches (u' = u + h a + h c), the MLP branch hands
// dv = LN2-backward to the attention branch (v = u + a) and to lam directly.
#include "model/blocks/encoder.hpp"

#include "model/blocks/dropout.hpp"
#include "model/blocks/kernels.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/gelu.hpp"
#include "model/ops/layernorm.hpp"

namespace lpt {

namespace {

// Forward temporaries (a, c) and backward buffers are never live at the same time, so both
// layouts start at offset 0 of the workspace.
struct EncoderWork {
  std::size_t a, c, fwd_size;
  std::size_t D, dC, dg, dfc, dln2, dv, da, datt, dqkv, dln1, scratch, bwd_size;
};

template <class T>
EncoderWork encoder_work(const LayerCall& c, int attn_threads) {
  const std::size_t N = c.rows(), d = c.dims.d, f = c.dims.dff;
  EncoderWork w{};
  Carver<T> fw;
  w.a = fw.take(N * d);
  w.c = fw.take(N * d);
  w.fwd_size = fw.size;
  Carver<T> bw;
  w.D = bw.take(N * d);
  w.dC = bw.take(c.dropout > 0 ? N * d : 0);
  w.dg = bw.take(N * f);
  w.dfc = bw.take(N * f);
  w.dln2 = bw.take(N * d);
  w.dv = bw.take(N * d);
  w.da = bw.take(N * d);
  w.datt = bw.take(N * d);
  w.dqkv = bw.take(N * 3 * d);
  w.dln1 = bw.take(N * d);
  w.scratch = bw.take(ops::attention_scratch_size(c.T, c.T, attn_threads));
  w.bwd_size = bw.size;
  return w;
}

}  // namespace

template <class T>
EncoderTape encoder_tape(const LayerCall& c) {
  const std::size_t N = c.rows(), d = c.dims.d, f = c.dims.dff;
  Carver<T> k;
  EncoderTape t{};
  t.ln1 = k.take(N * d);
  t.mean1 = k.take(N);
  t.rstd1 = k.take(N);
  t.qkv = k.take(N * 3 * d);
  t.att = k.take(N * d);
  t.probs = k.take(std::size_t(c.B) * c.dims.H * c.T * c.T);
  t.v = k.take(N * d);
  t.ln2 = k.take(N * d);
  t.mean2 = k.take(N);
  t.rstd2 = k.take(N);
  t.fc = k.take(N * f);
  t.g = k.take(N * f);
  t.size = k.size;
  return t;
}

template <class T>
std::size_t encoder_work_size(const LayerCall& c, int attn_threads) {
  const EncoderWork w = encoder_work<T>(c, attn_threads);
  return std::max(w.fwd_size, w.bwd_size);
}

template <class T>
void encoder_forward(const LayerCall& c, const LayerWeights<T>& w, T h, const T* u, T* u_next,
                     T* tape, T* work) {
  const int N = c.rows(), d = c.dims.d, f = c.dims.dff;
  const std::size_t nd = std::size_t(N) * d;
  const EncoderTape t = encoder_tape<T>(c);
  const EncoderWork k = encoder_work<T>(c, 1);
  T* ln1 = tape + t.ln1;
  T* qkv = tape + t.qkv;
  T* att = tape + t.att;
  T* v = tape + t.v;
  T* ln2 = tape + t.ln2;
  T* fc = tape + t.fc;
  T* g = tape + t.g;
  T* a = work + k.a;

  ops::layernorm_forward(ln1, tape + t.mean1, tape + t.rstd1, u, w[kLn1W], w[kLn1B], N, d);
  ops::linear_forward(qkv, ln1, w[kQkvW], w[kQkvB], N, d, 3 * d);
  ops::attention_forward(att, tape + t.probs, qkv, c.self_mask, c.B, c.T, d, c.dims.H, c.causal);
  ops::linear_forward(a, att, w[kProjW], w[kProjB], N, d, d);
  dropout_inplace(a, nd, c.key_phi1, c.dropout);
  ops::add(v, u, a, nd);
  ops::layernorm_forward(ln2, tape + t.mean2, tape + t.rstd2, v, w[kLn2W], w[kLn2B], N, d);
  ops::linear_forward<T>(fc, ln2, w[kFcW], nullptr, N, d, f);
  ops::bias_gelu_forward(g, fc, w[kFcB], N, f);
  if (!u_next) return;
  T* cc = work + k.c;
  ops::linear_forward(cc, g, w[kFc2W], w[kFc2B], N, f, d);
  dropout_inplace(cc, nd, c.key_phi2, c.dropout);
  ops::residual_step(u_next, u, a, cc, h, nd);
}

template <class T>
void encoder_backward(const LayerCall& c, const LayerWeights<T>& w, const LayerGrads<T>& gr, T h,
                      const T* u, const T* tape, const T* lam_next, T* lam, T* work) {
  const bool want_params = gr[kLn1W] != nullptr;
  if (!lam && !want_params) return;
  const int N = c.rows(), d = c.dims.d, f = c.dims.dff;
  const std::size_t nd = std::size_t(N) * d;
  const EncoderTape t = encoder_tape<T>(c);
  const EncoderWork k = encoder_work<T>(c, ops::attention_threads());
  T* D = work + k.D;
  T* dg = work + k.dg;
  T* dfc = work + k.dfc;
  T* dln2 = work + k.dln2;
  T* dv = work + k.dv;
  T* da = work + k.da;
  T* datt = work + k.datt;
  T* dqkv = work + k.dqkv;
  T* dln1 = work + k.dln1;

  ops::scale(D, lam_next, h, nd);
  const T* dC = D;
  if (c.dropout > 0) {
    ops::copy(work + k.dC, D, nd);
    dropout_inplace(work + k.dC, nd, c.key_phi2, c.dropout);
    dC = work + k.dC;
  }
  // MLP branch: c = fc2(gelu(fc(LN2(v)))).
  linear_backward_set(dg, gr[kFc2W], gr[kFc2B], dC, tape + t.g, w[kFc2W], N, f, d);
  ops::zero(dfc, std::size_t(N) * f);
  ops::gelu_backward(dfc, dg, tape + t.fc, std::size_t(N) * f);
  linear_backward_set(dln2, gr[kFcW], gr[kFcB], dfc, tape + t.ln2, w[kFcW], N, d, f);
  ops::zero(dv, nd);
  ops::layernorm_backward(dv, gr[kLn2W], gr[kLn2B], dln2, tape + t.v, w[kLn2W], tape + t.mean2,
                          tape + t.rstd2, N, d);
  // Attention branch: a enters u' directly (D) and through v (dv).
  ops::add(da, D, dv, nd);
  dropout_inplace(da, nd, c.key_phi1, c.dropout);
  linear_backward_set(datt, gr[kProjW], gr[kProjB], da, tape + t.att, w[kProjW], N, d, d);
  ops::zero(dqkv, nd * 3);
  ops::attention_backward(dqkv, work + k.scratch, datt, tape + t.qkv, tape + t.probs, c.B, c.T, d,
                          c.dims.H, c.causal);
  linear_backward_set(dln1, gr[kQkvW], gr[kQkvB], dqkv, tape + t.ln1, w[kQkvW], N, d, 3 * d);
  if (lam) ops::add(lam, lam_next, dv, nd);
  ops::layernorm_backward(lam, gr[kLn1W], gr[kLn1B], dln1, u, w[kLn1W], tape + t.mean1,
                          tape + t.rstd1, N, d);
}

#define LPT_INSTANTIATE(T)                                                                      \
  template EncoderTape encoder_tape<T>(const LayerCall&);                                       \
  template std::size_t encoder_work_size<T>(const LayerCall&, int);                             \
  template void encoder_forward<T>(const LayerCall&, const LayerWeights<T>&, T, const T*, T*, T*, \
                                   T*);                                                         \
  template void encoder_backward<T>(const LayerCall&, const LayerWeights<T>&,                   \
                                    const LayerGrads<T>&, T, const T*, const T*, const T*, T*, T*);
LPT_INSTANTIATE(float)
LPT_INSTANTIATE(double)
#undef LPT_INSTANTIATE

}  // namespace lpt
