#include "model/families/bert_classifier.hpp"

#include "model/ops/cross_entropy.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/gelu.hpp"
#include "model/ops/layernorm.hpp"
#include "model/ops/linear.hpp"

namespace lpt {

template <class T>
BertClassifier<T>::BertClassifier(const ModelConfig& cfg) : Model<T>(cfg) {
  require(cfg.vocab >= 1 && cfg.max_len >= 1 && cfg.layers >= 1 && cfg.n_classes >= 2,
          "bert classifier: needs vocab, max_len, layers >= 1 and n_classes >= 2, got vocab=",
          cfg.vocab, " max_len=", cfg.max_len, " layers=", cfg.layers,
          " n_classes=", cfg.n_classes);
  const int d = cfg.d_model;
  auto& p = this->params_;
  register_token_lm_params(p, cfg);
  p.add("cls.dense_w", {d, d});
  p.add("cls.dense_b", {d});
  p.add("cls.out_w", {cfg.n_classes, d});
  p.add("cls.out_b", {cfg.n_classes});
  p.finalize(cfg.roles);
  steps_ = std::make_unique<TransformerSteps<T>>(p, token_lm_steps_config(cfg, /*causal=*/false));
  this->build_edges(token_lm_steps_config(cfg, /*causal=*/false));
}

template <class T>
void BertClassifier<T>::set_batch(const TextClassBatch& b) {
  const ModelConfig& c = this->cfg_;
  require(b.B >= 1 && b.T >= 1 && b.T <= c.max_len, "bert classifier batch: needs B, T >= 1 and ",
          "T <= model.seq_len = ", c.max_len, ", got B=", b.B, " T=", b.T);
  const std::size_t n = std::size_t(b.B) * b.T;
  require(b.tokens.size() == n && b.key_mask.size() == n && b.labels.size() == std::size_t(b.B),
          "bert classifier batch: tokens and key_mask need B*T = ", n, " entries and labels B = ",
          b.B, ", got ", b.tokens.size(), ", ", b.key_mask.size(), ", ", b.labels.size());
  check_ids("bert classifier batch", b.tokens.data(), n, c.vocab, false, "tokens");
  check_ids("bert classifier batch", b.labels.data(), b.labels.size(), c.n_classes, false,
            "labels");
  batch_ = &b;
  B_ = b.B, T_ = b.T;
  inv_count_.assign(b.B, T(0));
  for (int r = 0; r < b.B; ++r) {
    int real = 0;
    for (int t = 0; t < b.T; ++t) real += b.key_mask[std::size_t(r) * b.T + t] != 0;
    require(real > 0, "bert classifier batch: row ", r, " has no real token (key_mask all 0)");
    inv_count_[r] = T(1) / T(real);
  }
  StepBatch& sb = this->step_batch();
  sb.B = b.B;
  sb.T = b.T;
  sb.T_tgt = 0;
  sb.key_mask = b.key_mask;
  sb.train = this->train_;
  steps_->set_batch(sb);
  this->set_edge_batch(sb);
  const int d = c.d_model, K = c.n_classes;
  const std::size_t nd = n * d, bd = std::size_t(b.B) * d, bk = std::size_t(b.B) * K, n1 = n,
                    b1 = b.B;
  this->ensure_work(footprint_sum<T>({nd, n1, n1, bd, bd, bd, bk, bk, b1, b1, bd, bd, bd, nd, nd}));
  Arena<T>& a = this->work_;
  x_ = a.alloc(nd), mean_ = a.alloc(n1), rstd_ = a.alloc(n1), pooled_ = a.alloc(bd);
  z1_ = a.alloc(bd), g_ = a.alloc(bd), logits_ = a.alloc(bk), dlogits_ = a.alloc(bk);
  losses_ = a.alloc(b1), lse_ = a.alloc(b1), dg_ = a.alloc(bd), dz1_ = a.alloc(bd);
  dpooled_ = a.alloc(bd), dx_ = a.alloc(nd), dscratch_ = a.alloc(nd);
}

template <class T>
void BertClassifier<T>::embed_forward(T* u0) {
  require(batch_, "bert classifier: open_forward() before set_batch()");
  token_open_forward(this->params_, this->cfg_, batch_->tokens.data(), B_, T_,
                     this->embedding_key(), this->dropout_now(), u0);
}

template <class T>
double BertClassifier<T>::head_close(const T* uN, T* lamN) {
  require(batch_, "bert classifier: close() before set_batch()");
  auto& p = this->params_;
  const int d = this->cfg_.d_model, K = this->cfg_.n_classes, N = B_ * T_;
  const double eps = this->cfg_.label_smoothing;
  const std::size_t bd = std::size_t(B_) * d;
  const std::uint8_t* mask = batch_->key_mask.data();
  ops::layernorm_forward(x_, mean_, rstd_, uN, p.value("lnf_w"), p.value("lnf_b"), N, d);
  ops::zero(pooled_, bd);
  for (int b = 0; b < B_; ++b)  // rows in a fixed order: the same bits on every thread count
    for (int t = 0; t < T_; ++t)
      if (mask[std::size_t(b) * T_ + t])
        ops::accumulate(pooled_ + std::size_t(b) * d, x_ + (std::size_t(b) * T_ + t) * d,
                        inv_count_[b], d);
  ops::linear_forward(z1_, pooled_, p.value("cls.dense_w"), p.value("cls.dense_b"), B_, d, d);
  ops::gelu_forward(g_, z1_, bd);
  ops::linear_forward(logits_, g_, p.value("cls.out_w"), p.value("cls.out_b"), B_, d, K);
  loss_ = ops::cross_entropy_forward(losses_, lse_, logits_, batch_->labels.data(), B_, K, eps);
  if (!lamN) return loss_;

  ops::zero(dlogits_, std::size_t(B_) * K);
  ops::cross_entropy_backward(dlogits_, logits_, lse_, batch_->labels.data(), B_, K, 1.0, eps);
  ops::zero(dg_, bd);
  ops::linear_backward(dg_, p.grad("cls.out_w"), p.grad("cls.out_b"), dlogits_, g_,
                       p.value("cls.out_w"), B_, d, K);
  ops::zero(dz1_, bd);
  ops::gelu_backward(dz1_, dg_, z1_, bd);
  ops::zero(dpooled_, bd);
  ops::linear_backward(dpooled_, p.grad("cls.dense_w"), p.grad("cls.dense_b"), dz1_, pooled_,
                       p.value("cls.dense_w"), B_, d, d);
  ops::zero(dx_, std::size_t(N) * d);
  for (int b = 0; b < B_; ++b)
    for (int t = 0; t < T_; ++t)
      if (mask[std::size_t(b) * T_ + t])
        ops::accumulate(dx_ + (std::size_t(b) * T_ + t) * d, dpooled_ + std::size_t(b) * d,
                        inv_count_[b], d);
  ops::zero(lamN, std::size_t(N) * d);
  ops::layernorm_backward(lamN, p.grad("lnf_w"), p.grad("lnf_b"), dx_, uN, p.value("lnf_w"),
                          mean_, rstd_, N, d);
  return loss_;
}

template <class T>
void BertClassifier<T>::embed_backward(const T* lam0) {
  token_open_backward(this->params_, this->cfg_, batch_->tokens.data(), B_, T_,
                      this->embedding_key(), this->dropout_now(), lam0, dscratch_);
}

template <class T>
EvalCounts BertClassifier<T>::eval_counts() const {
  const auto a = ops::accuracy_count(logits_, batch_->labels.data(), B_, this->cfg_.n_classes);
  return {loss_, a.correct, a.counted};
}

template class BertClassifier<float>;
template class BertClassifier<double>;

}  // namespace lpt
