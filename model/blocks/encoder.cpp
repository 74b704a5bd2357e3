// The encoder-style layer step and its vector-Jacobian product. Backward walks the forward in
// reverse: D = h·lam_next enters both branches (u' = u + h a + h c), the MLP branch hands
// dv = LN2-backward to the attention branch (v = u + a) and to lam directly.
#include "model/blocks/encoder.hpp"

#include "model/blocks/branches.hpp"
#include "model/blocks/dropout.hpp"
#include "model/blocks/kernels.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/elementwise.hpp"

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
  const std::size_t nd = std::size_t(c.rows()) * c.dims.d;
  const EncoderTape t = encoder_tape<T>(c);
  const EncoderWork k = encoder_work<T>(c, 1);
  T* a = work + k.a;
  T* v = tape + t.v;
  attention_branch_forward(c, w, u, attention_tape_at(tape, t), a);
  ops::add(v, u, a, nd);
  T* cc = u_next ? work + k.c : nullptr;
  mlp_branch_forward(c, w, v, mlp_tape_at(tape, t), cc);
  if (!u_next) return;
  ops::residual_step(u_next, u, a, cc, h, nd);
}

template <class T>
void encoder_backward(const LayerCall& c, const LayerWeights<T>& w, const LayerGrads<T>& gr, T h,
                      const T* u, const T* tape, const T* lam_next, T* lam, T* work) {
  const bool want_params = gr[kLn1W] != nullptr;
  if (!lam && !want_params) return;
  const std::size_t nd = std::size_t(c.rows()) * c.dims.d;
  const EncoderTape t = encoder_tape<T>(c);
  const EncoderWork k = encoder_work<T>(c, ops::attention_threads());
  T* D = work + k.D;
  T* dv = work + k.dv;

  ops::scale(D, lam_next, h, nd);
  const T* dC = D;
  if (c.dropout > 0) {
    ops::copy(work + k.dC, D, nd);
    dropout_inplace(work + k.dC, nd, c.key_phi2, c.dropout);
    dC = work + k.dC;
  }
  mlp_branch_backward(c, w, gr, dC, tape + t.v, mlp_tape_at(tape, t),
                      MlpWork<T>{work + k.dg, work + k.dfc, work + k.dln2}, dv);
  attention_branch_backward(
      c, w, gr, D, dv, u, attention_tape_at(tape, t),
      AttentionWork<T>{work + k.da, work + k.datt, work + k.dqkv, work + k.dln1, work + k.scratch},
      lam_next, lam);
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
