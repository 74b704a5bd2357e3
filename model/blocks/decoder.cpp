// The decoder layer step and its vector-Jacobian product w.r.t. the target state, the memory and
// the parameters. Reverse order of the forward: c (MLP), then b (cross-attention, which also
// yields the memory gradient), then a (causal self-attention).
#include "model/blocks/decoder.hpp"

#include "model/blocks/branches.hpp"
#include "model/blocks/dropout.hpp"
#include "model/blocks/kernels.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/gelu.hpp"
#include "model/ops/layernorm.hpp"

namespace lpt {

namespace {

struct DecoderWork {
  std::size_t a, b, c, fwd_size;
  std::size_t D, dC, dg, dfc, dln2, dv2, db, dcatt, dq, dkv, dlnq, dlnkv, dv1, da, datt, dqkv, dln1,
      scratch, bwd_size;
};

template <class T>
DecoderWork decoder_work(const LayerCall& c, int attn_threads) {
  const std::size_t N = c.rows(), M = c.mem_rows(), d = c.dims.d, f = c.dims.dff;
  DecoderWork w{};
  Carver<T> fw;
  w.a = fw.take(N * d);
  w.b = fw.take(N * d);
  w.c = fw.take(N * d);
  w.fwd_size = fw.size;
  Carver<T> bw;
  w.D = bw.take(N * d);
  w.dC = bw.take(c.dropout > 0 ? N * d : 0);
  w.dg = bw.take(N * f);
  w.dfc = bw.take(N * f);
  w.dln2 = bw.take(N * d);
  w.dv2 = bw.take(N * d);
  w.db = bw.take(N * d);
  w.dcatt = bw.take(N * d);
  w.dq = bw.take(N * d);
  w.dkv = bw.take(M * 2 * d);
  w.dlnq = bw.take(N * d);
  w.dlnkv = bw.take(M * d);
  w.dv1 = bw.take(N * d);
  w.da = bw.take(N * d);
  w.datt = bw.take(N * d);
  w.dqkv = bw.take(N * 3 * d);
  w.dln1 = bw.take(N * d);
  w.scratch = bw.take(std::max(ops::attention_scratch_size(c.T, c.T, attn_threads),
                               ops::attention_scratch_size(c.T, c.Tmem, attn_threads)));
  w.bwd_size = bw.size;
  return w;
}

}  // namespace

template <class T>
DecoderTape decoder_tape(const LayerCall& c) {
  const std::size_t N = c.rows(), M = c.mem_rows(), d = c.dims.d, f = c.dims.dff;
  const std::size_t BH = std::size_t(c.B) * c.dims.H;
  Carver<T> k;
  DecoderTape t{};
  t.ln1 = k.take(N * d);
  t.mean1 = k.take(N);
  t.rstd1 = k.take(N);
  t.qkv = k.take(N * 3 * d);
  t.att = k.take(N * d);
  t.probs = k.take(BH * c.T * c.T);
  t.v1 = k.take(N * d);
  t.lnq = k.take(N * d);
  t.meanq = k.take(N);
  t.rstdq = k.take(N);
  t.q = k.take(N * d);
  t.lnkv = k.take(M * d);
  t.meankv = k.take(M);
  t.rstdkv = k.take(M);
  t.kv = k.take(M * 2 * d);
  t.catt = k.take(N * d);
  t.cprobs = k.take(BH * c.T * c.Tmem);
  t.v2 = k.take(N * d);
  t.ln2 = k.take(N * d);
  t.mean2 = k.take(N);
  t.rstd2 = k.take(N);
  t.fc = k.take(N * f);
  t.g = k.take(N * f);
  t.size = k.size;
  return t;
}

template <class T>
std::size_t decoder_work_size(const LayerCall& c, int attn_threads) {
  const DecoderWork w = decoder_work<T>(c, attn_threads);
  return std::max(w.fwd_size, w.bwd_size);
}

template <class T>
void decoder_forward(const LayerCall& c, const LayerWeights<T>& w, T h, const T* y, const T* x_mem,
                     T* y_next, T* tape, T* work) {
  const int N = c.rows(), M = c.mem_rows(), d = c.dims.d, H = c.dims.H;
  const std::size_t nd = std::size_t(N) * d;
  const DecoderTape t = decoder_tape<T>(c);
  const DecoderWork k = decoder_work<T>(c, 1);
  T* a = work + k.a;
  T* b = work + k.b;

  attention_branch_forward(c, w, y, attention_tape_at(tape, t), a);
  ops::add(tape + t.v1, y, a, nd);

  ops::layernorm_forward(tape + t.lnq, tape + t.meanq, tape + t.rstdq, tape + t.v1, w[kLnqW],
                         w[kLnqB], N, d);
  ops::linear_forward(tape + t.q, tape + t.lnq, w[kCqW], w[kCqB], N, d, d);
  ops::layernorm_forward(tape + t.lnkv, tape + t.meankv, tape + t.rstdkv, x_mem, w[kLnkvW],
                         w[kLnkvB], M, d);
  ops::linear_forward(tape + t.kv, tape + t.lnkv, w[kCkvW], w[kCkvB], M, d, 2 * d);
  ops::cross_attention_forward(tape + t.catt, tape + t.cprobs, tape + t.q, tape + t.kv, c.mem_mask,
                               c.B, c.T, c.Tmem, d, H);
  ops::linear_forward(b, tape + t.catt, w[kCprojW], w[kCprojB], N, d, d);
  dropout_inplace(b, nd, c.key_phi3, c.dropout);
  ops::add(tape + t.v2, tape + t.v1, b, nd);

  T* cc = y_next ? work + k.c : nullptr;
  mlp_branch_forward(c, w, tape + t.v2, mlp_tape_at(tape, t), cc);
  if (!y_next) return;
  ops::add(a, a, b, nd);
  ops::residual_step(y_next, y, a, cc, h, nd);
}

template <class T>
void decoder_backward(const LayerCall& c, const LayerWeights<T>& w, const LayerGrads<T>& gr, T h,
                      const T* y, const T* x_mem, const T* tape, const T* lam_next, T* lam,
                      T* lam_mem, T* work) {
  const bool want_params = gr[kLn1W] != nullptr;
  if (!lam && !lam_mem && !want_params) return;
  const int N = c.rows(), M = c.mem_rows(), d = c.dims.d, H = c.dims.H;
  const std::size_t nd = std::size_t(N) * d;
  const DecoderTape t = decoder_tape<T>(c);
  const DecoderWork k = decoder_work<T>(c, ops::attention_threads());
  T* D = work + k.D;
  T* scratch = work + k.scratch;

  ops::scale(D, lam_next, h, nd);
  const T* dC = D;
  if (c.dropout > 0) {
    ops::copy(work + k.dC, D, nd);
    dropout_inplace(work + k.dC, nd, c.key_phi2, c.dropout);
    dC = work + k.dC;
  }
  // c = MLP(LN2(v2))
  T* dv2 = work + k.dv2;
  mlp_branch_backward(c, w, gr, dC, tape + t.v2, mlp_tape_at(tape, t),
                      MlpWork<T>{work + k.dg, work + k.dfc, work + k.dln2}, dv2);
  // b = CrossAttn(LNq(v1), LNkv(X)); b enters y' directly and through v2.
  T* db = work + k.db;
  ops::add(db, D, dv2, nd);
  dropout_inplace(db, nd, c.key_phi3, c.dropout);
  linear_backward_set(work + k.dcatt, gr[kCprojW], gr[kCprojB], db, tape + t.catt, w[kCprojW], N, d,
                      d);
  T* dq = work + k.dq;
  T* dkv = work + k.dkv;
  ops::zero(dq, nd);
  ops::zero(dkv, std::size_t(M) * 2 * d);
  ops::cross_attention_backward(dq, dkv, scratch, work + k.dcatt, tape + t.q, tape + t.kv,
                                tape + t.cprobs, c.B, c.T, c.Tmem, d, H);
  linear_backward_set(work + k.dlnq, gr[kCqW], gr[kCqB], dq, tape + t.lnq, w[kCqW], N, d, d);
  linear_backward_set(work + k.dlnkv, gr[kCkvW], gr[kCkvB], dkv, tape + t.lnkv, w[kCkvW], M, d,
                      2 * d);
  T* dv1 = work + k.dv1;
  ops::copy(dv1, dv2, nd);
  ops::layernorm_backward(dv1, gr[kLnqW], gr[kLnqB], work + k.dlnq, tape + t.v1, w[kLnqW],
                          tape + t.meanq, tape + t.rstdq, N, d);
  ops::layernorm_backward(lam_mem, gr[kLnkvW], gr[kLnkvB], work + k.dlnkv, x_mem, w[kLnkvW],
                          tape + t.meankv, tape + t.rstdkv, M, d);
  // a = SelfAttn(LN1(y)); a enters y' directly and through v1.
  attention_branch_backward(
      c, w, gr, D, dv1, y, attention_tape_at(tape, t),
      AttentionWork<T>{work + k.da, work + k.datt, work + k.dqkv, work + k.dln1, scratch},
      lam_next, lam);
}

#define LPT_INSTANTIATE(T)                                                                      \
  template DecoderTape decoder_tape<T>(const LayerCall&);                                       \
  template std::size_t decoder_work_size<T>(const LayerCall&, int);                             \
  template void decoder_forward<T>(const LayerCall&, const LayerWeights<T>&, T, const T*,       \
                                   const T*, T*, T*, T*);                                       \
  template void decoder_backward<T>(const LayerCall&, const LayerWeights<T>&,                   \
                                    const LayerGrads<T>&, T, const T*, const T*, const T*,      \
                                    const T*, T*, T*, T*);
LPT_INSTANTIATE(float)
LPT_INSTANTIATE(double)
#undef LPT_INSTANTIATE

}  // namespace lpt
