#include "model/families/gpt.hpp"

#include "model/ops/cross_entropy.hpp"

namespace lpt {

template <class T>
GptModel<T>::GptModel(const ModelConfig& cfg) : Model<T>(cfg) {
  require(cfg.vocab >= 1 && cfg.max_len >= 1 && cfg.layers >= 1,
          "gpt: needs vocab, max_len and layers >= 1, got vocab=", cfg.vocab,
          " max_len=", cfg.max_len, " layers=", cfg.layers);
  auto& p = this->params_;
  register_token_lm_params(p, cfg);
  p.finalize(cfg.roles);
  steps_ = std::make_unique<TransformerSteps<T>>(p, token_lm_steps_config(cfg, /*causal=*/true));
  this->build_edges(token_lm_steps_config(cfg, /*causal=*/true));
}

template <class T>
void GptModel<T>::set_batch(const GptBatch& b) {
  const ModelConfig& c = this->cfg_;
  check_token_batch("gpt batch", b.B, b.T, c, b.tokens, b.targets);
  batch_ = &b;
  StepBatch& sb = this->step_batch();
  sb.B = b.B;
  sb.T = b.T;
  sb.T_tgt = 0;
  sb.key_mask.clear();
  sb.train = this->train_;
  steps_->set_batch(sb);
  this->set_edge_batch(sb);
  const int N = b.B * b.T, d = c.d_model;
  this->ensure_work(LmHead<T>::elems(N, d, c.vocab) + footprint_sum<T>({std::size_t(N) * d}));
  head_.carve(this->work_, N, d, c.vocab);
  dscratch_ = this->work_.alloc(std::size_t(N) * d);
}

template <class T>
void GptModel<T>::embed_forward(T* u0) {
  require(batch_, "gpt: open_forward() before set_batch()");
  token_open_forward(this->params_, this->cfg_, batch_->tokens.data(), batch_->B, batch_->T,
                     this->embedding_key(), this->dropout_now(), u0);
}

template <class T>
double GptModel<T>::head_close(const T* uN, T* lamN) {
  require(batch_, "gpt: close() before set_batch()");
  auto& p = this->params_;
  const double eps = this->cfg_.label_smoothing;
  loss_ = head_.forward(uN, p.value("lnf_w"), p.value("lnf_b"), p.value("wte"),
                        batch_->targets.data(), eps);
  if (lamN)
    head_.backward(uN, p.value("lnf_w"), p.value("wte"), batch_->targets.data(), eps, lamN,
                   p.grad("lnf_w"), p.grad("lnf_b"), p.grad("wte"));
  return loss_;
}

template <class T>
void GptModel<T>::embed_backward(const T* lam0) {
  token_open_backward(this->params_, this->cfg_, batch_->tokens.data(), batch_->B, batch_->T,
                      this->embedding_key(), this->dropout_now(), lam0, dscratch_);
}

template <class T>
EvalCounts GptModel<T>::eval_counts() const {
  const auto a = ops::accuracy_count(head_.logits, batch_->targets.data(), head_.N, head_.V);
  return {loss_, a.correct, a.counted};
}

template class GptModel<float>;
template class GptModel<double>;

}  // namespace lpt
