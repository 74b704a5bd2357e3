#include "model/families/bert.hpp"

#include "model/ops/cross_entropy.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/gelu.hpp"
#include "model/ops/layernorm.hpp"
#include "model/ops/linear.hpp"

namespace lpt {

template <class T>
BertModel<T>::BertModel(const ModelConfig& cfg) : Model<T>(cfg) {
  require(cfg.vocab >= 1 && cfg.max_len >= 1 && cfg.layers >= 1,
          "bert: needs vocab, max_len and layers >= 1, got vocab=", cfg.vocab,
          " max_len=", cfg.max_len, " layers=", cfg.layers);
  const int d = cfg.d_model;
  auto& p = this->params_;
  register_token_lm_params(p, cfg);
  p.add("mlm.dense_w", {d, d});
  p.add("mlm.dense_b", {d});
  p.add("mlm.ln_w", {d});
  p.add("mlm.ln_b", {d});
  p.add("mlm.bias", {cfg.vocab});
  p.finalize(cfg.roles);
  steps_ = std::make_unique<TransformerSteps<T>>(p, token_lm_steps_config(cfg, /*causal=*/false));
  this->build_edges(token_lm_steps_config(cfg, /*causal=*/false));
}

template <class T>
void BertModel<T>::set_batch(const BertBatch& b) {
  const ModelConfig& c = this->cfg_;
  check_token_batch("bert batch", b.B, b.T, c, b.tokens, b.targets);
  require(b.key_mask.size() == b.tokens.size(), "bert batch: key_mask must have B*T = ",
          b.tokens.size(), " entries, got ", b.key_mask.size());
  batch_ = &b;
  StepBatch& sb = this->step_batch();
  sb.B = b.B;
  sb.T = b.T;
  sb.T_tgt = 0;
  sb.key_mask = b.key_mask;  // the step chain checks that every row has a real key
  sb.train = this->train_;
  steps_->set_batch(sb);
  this->set_edge_batch(sb);
  const int N = b.B * b.T, d = c.d_model, V = c.vocab;
  N_ = N;
  const std::size_t nd = std::size_t(N) * d, nv = std::size_t(N) * V, n1 = N;
  this->ensure_work(
      footprint_sum<T>({nd, n1, n1, nd, nd, nd, n1, n1, nv, nv, n1, n1, nd, nd, nd, nd}));
  Arena<T>& a = this->work_;
  x_ = a.alloc(nd), meanf_ = a.alloc(n1), rstdf_ = a.alloc(n1), z1_ = a.alloc(nd);
  g_ = a.alloc(nd), z_ = a.alloc(nd), meanm_ = a.alloc(n1), rstdm_ = a.alloc(n1);
  logits_ = a.alloc(nv), dlogits_ = a.alloc(nv), losses_ = a.alloc(n1), lse_ = a.alloc(n1);
  dz_ = a.alloc(nd), dg_ = a.alloc(nd), dx_ = a.alloc(nd), dscratch_ = a.alloc(nd);
}

template <class T>
void BertModel<T>::embed_forward(T* u0) {
  require(batch_, "bert: open_forward() before set_batch()");
  token_open_forward(this->params_, this->cfg_, batch_->tokens.data(), batch_->B, batch_->T,
                     this->embedding_key(), this->dropout_now(), u0);
}

template <class T>
double BertModel<T>::head_close(const T* uN, T* lamN) {
  require(batch_, "bert: close() before set_batch()");
  auto& p = this->params_;
  const int N = N_, d = this->cfg_.d_model, V = this->cfg_.vocab;
  const double eps = this->cfg_.label_smoothing;
  const std::size_t nd = std::size_t(N) * d;
  ops::layernorm_forward(x_, meanf_, rstdf_, uN, p.value("lnf_w"), p.value("lnf_b"), N, d);
  ops::linear_forward(z1_, x_, p.value("mlm.dense_w"), p.value("mlm.dense_b"), N, d, d);
  ops::gelu_forward(g_, z1_, nd);
  ops::layernorm_forward(z_, meanm_, rstdm_, g_, p.value("mlm.ln_w"), p.value("mlm.ln_b"), N, d);
  ops::linear_forward(logits_, z_, p.value("wte"), p.value("mlm.bias"), N, d, V);
  loss_ = ops::cross_entropy_forward(losses_, lse_, logits_, batch_->targets.data(), N, V, eps);
  if (!lamN) return loss_;

  ops::zero(dlogits_, std::size_t(N) * V);
  ops::cross_entropy_backward(dlogits_, logits_, lse_, batch_->targets.data(), N, V, 1.0, eps);
  ops::zero(dz_, nd);
  ops::linear_backward(dz_, p.grad("wte"), p.grad("mlm.bias"), dlogits_, z_, p.value("wte"), N, d,
                       V);
  ops::zero(dg_, nd);
  ops::layernorm_backward(dg_, p.grad("mlm.ln_w"), p.grad("mlm.ln_b"), dz_, g_, p.value("mlm.ln_w"),
                          meanm_, rstdm_, N, d);
  ops::zero(dz_, nd);  // now d z1
  ops::gelu_backward(dz_, dg_, z1_, nd);
  ops::zero(dx_, nd);
  ops::linear_backward(dx_, p.grad("mlm.dense_w"), p.grad("mlm.dense_b"), dz_, x_,
                       p.value("mlm.dense_w"), N, d, d);
  ops::zero(lamN, nd);
  ops::layernorm_backward(lamN, p.grad("lnf_w"), p.grad("lnf_b"), dx_, uN, p.value("lnf_w"),
                          meanf_, rstdf_, N, d);
  return loss_;
}

template <class T>
void BertModel<T>::embed_backward(const T* lam0) {
  token_open_backward(this->params_, this->cfg_, batch_->tokens.data(), batch_->B, batch_->T,
                      this->embedding_key(), this->dropout_now(), lam0, dscratch_);
}

template <class T>
EvalCounts BertModel<T>::eval_counts() const {
  const auto a = ops::accuracy_count(logits_, batch_->targets.data(), N_, this->cfg_.vocab);
  return {loss_, a.correct, a.counted};
}

template class BertModel<float>;
template class BertModel<double>;

}  // namespace lpt
