#include "model/families/mt.hpp"

#include <algorithm>

#include "model/blocks/dropout.hpp"
#include "model/ops/cross_entropy.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/embedding.hpp"

namespace lpt {

template <class T>
MtModel<T>::MtModel(const ModelConfig& cfg) : Model<T>(cfg) {
  require(cfg.src_vocab >= 1 && cfg.tgt_vocab >= 1 && cfg.src_max_len >= 1 && cfg.tgt_max_len >= 1,
          "mt: needs src_vocab, tgt_vocab, src_max_len, tgt_max_len >= 1");
  require(cfg.enc_layers >= 1 && cfg.dec_layers >= 1, "mt: needs enc_layers and dec_layers >= 1");
  const LayerDims dims{cfg.d_model, cfg.heads, cfg.d_ff};
  const int d = cfg.d_model;
  auto& p = this->params_;
  p.add("src_wte", {cfg.src_vocab, d});
  p.add("src_wpe", {cfg.src_max_len, d});
  p.add("tgt_wte", {cfg.tgt_vocab, d});
  p.add("tgt_wpe", {cfg.tgt_max_len, d});
  for (int n = 0; n < cfg.enc_layers; ++n)
    register_layer_params(p, "enc." + std::to_string(n) + ".", dims, false);
  for (int k = 0; k < cfg.dec_layers; ++k)
    register_layer_params(p, "dec." + std::to_string(k) + ".", dims, true);
  p.add("lnf_w", {d});
  p.add("lnf_b", {d});
  require(cfg.edge_before == 0 && cfg.edge_after == 0, "mt: model.edge_layers must be [0, 0] "
          "(edge layers exist for the encoder-only chains: gpt, bert, vit), got [",
          cfg.edge_before, ", ", cfg.edge_after, "]");
  p.finalize(cfg.roles);
  TranslationStepsConfig sc;
  sc.dims = dims;
  sc.enc_layers = cfg.enc_layers;
  sc.dec_layers = cfg.dec_layers;
  sc.dropout = cfg.dropout;
  steps_ = std::make_unique<TranslationSteps<T>>(p, sc);
}

template <class T>
void MtModel<T>::set_batch(const MtBatch& b) {
  bind(b, true);
}

template <class T>
void MtModel<T>::bind(const MtBatch& b, bool need_targets) {
  const ModelConfig& c = this->cfg_;
  require(b.B >= 1 && b.Ts >= 1 && b.Tt >= 1, "mt batch: B, Ts, Tt must be >= 1, got B=", b.B,
          " Ts=", b.Ts, " Tt=", b.Tt);
  require(b.Ts <= c.src_max_len && b.Tt <= c.tgt_max_len, "mt batch: lengths Ts=", b.Ts, " Tt=",
          b.Tt, " exceed src_max_len=", c.src_max_len, " / tgt_max_len=", c.tgt_max_len,
          "; raise them or shorten the sentences");
  const std::size_t ns = std::size_t(b.B) * b.Ts, nt = std::size_t(b.B) * b.Tt;
  require(b.src.size() == ns && b.src_mask.size() == ns && b.tgt_in.size() == nt &&
              b.tgt_out.size() == nt,
          "mt batch: src/src_mask must have B*Ts = ", ns, " and tgt_in/tgt_out B*Tt = ", nt,
          " entries");
  check_ids("mt batch: src", b.src.data(), ns, c.src_vocab, false);
  check_ids("mt batch: tgt_in", b.tgt_in.data(), nt, c.tgt_vocab, false);
  check_ids("mt batch: tgt_out", b.tgt_out.data(), nt, c.tgt_vocab, true);
  if (need_targets) check_has_target("mt batch", b.tgt_out.data(), nt);
  batch_ = &b;
  StepBatch& sb = this->step_batch();
  sb.B = b.B;
  sb.T = b.Ts;
  sb.T_tgt = b.Tt;
  sb.key_mask = b.src_mask;
  sb.train = this->train_;
  steps_->set_batch(sb);
  const int d = c.d_model, Nt = b.B * b.Tt;
  this->ensure_work(LmHead<T>::elems(Nt, d, c.tgt_vocab) + footprint_sum<T>({steps_->state_size()}));
  head_.carve(this->work_, Nt, d, c.tgt_vocab);
  dscratch_ = this->work_.alloc(steps_->state_size());
}

template <class T>
std::uint64_t MtModel<T>::target_embedding_key() const {
  return dropout_key(this->sb_.dropout_seed, this->sb_.dropout_step, 1, ops::kDropEmbedding);
}

template <class T>
void MtModel<T>::embed_forward(T* u0) {
  require(batch_, "mt: open_forward() before set_batch()");
  const auto& p = this->params_;
  const ModelConfig& c = this->cfg_;
  const int d = c.d_model;
  const std::size_t nx = source_size(), ny = steps_->state_size() - nx;
  ops::embedding_forward(u0, batch_->src.data(), p.value("src_wte"), p.value("src_wpe"), batch_->B,
                         batch_->Ts, d, c.src_vocab);
  ops::embedding_forward(u0 + nx, batch_->tgt_in.data(), p.value("tgt_wte"), p.value("tgt_wpe"),
                         batch_->B, batch_->Tt, d, c.tgt_vocab);
  dropout_inplace(u0, nx, this->embedding_key(), this->dropout_now());
  dropout_inplace(u0 + nx, ny, target_embedding_key(), this->dropout_now());
}

template <class T>
double MtModel<T>::head_close(const T* uN, T* lamN) {
  require(batch_, "mt: close() before set_batch()");
  auto& p = this->params_;
  const double eps = this->cfg_.label_smoothing;
  const std::size_t nx = source_size();
  loss_ = head_.forward(uN + nx, p.value("lnf_w"), p.value("lnf_b"), p.value("tgt_wte"),
                        batch_->tgt_out.data(), eps);
  if (lamN) {
    ops::zero(lamN, nx);
    head_.backward(uN + nx, p.value("lnf_w"), p.value("tgt_wte"), batch_->tgt_out.data(), eps,
                   lamN + nx, p.grad("lnf_w"), p.grad("lnf_b"), p.grad("tgt_wte"));
  }
  return loss_;
}

template <class T>
void MtModel<T>::embed_backward(const T* lam0) {
  auto& p = this->params_;
  const ModelConfig& c = this->cfg_;
  const int d = c.d_model;
  const std::size_t nx = source_size(), n = steps_->state_size();
  const T* g = lam0;
  if (this->dropout_now() > 0) {
    ops::copy(dscratch_, lam0, n);
    dropout_inplace(dscratch_, nx, this->embedding_key(), this->dropout_now());
    dropout_inplace(dscratch_ + nx, n - nx, target_embedding_key(), this->dropout_now());
    g = dscratch_;
  }
  ops::embedding_backward(p.grad("src_wte"), p.grad("src_wpe"), g, batch_->src.data(), batch_->B,
                          batch_->Ts, d, c.src_vocab);
  ops::embedding_backward(p.grad("tgt_wte"), p.grad("tgt_wpe"), g + nx, batch_->tgt_in.data(),
                          batch_->B, batch_->Tt, d, c.tgt_vocab);
}

template <class T>
EvalCounts MtModel<T>::eval_counts() const {
  const auto a = ops::accuracy_count(head_.logits, batch_->tgt_out.data(), head_.N, head_.V);
  return {loss_, a.correct, a.counted};
}

template <class T>
std::vector<token_t> MtModel<T>::greedy_decode(const std::vector<token_t>& src,
                                               const std::vector<std::uint8_t>& src_mask, int B,
                                               int Ts, int max_len, token_t bos, token_t eos,
                                               LayerRunner<T>* run) {
  LayerRunner<T> here;
  LayerRunner<T>& r = run ? *run : here;
  const ModelConfig& c = this->cfg_;
  require(max_len >= 1 && max_len <= c.tgt_max_len, "greedy_decode: max_len ", max_len,
          " must be in [1, tgt_max_len = ", c.tgt_max_len, "]");
  const bool was_train = this->train_;
  this->train_ = false;
  MtBatch q;
  q.shape(B, Ts, 1);
  require(src.size() == q.src.size() && src_mask.size() == q.src_mask.size(),
          "greedy_decode: src and src_mask must have B*Ts = ", q.src.size(), " entries");
  q.src = src;
  q.src_mask = src_mask;
  std::vector<token_t> out(std::size_t(B) * max_len, eos);
  std::vector<token_t> prefix(std::size_t(B) * max_len, bos);  // [B, max_len] decoder inputs
  std::vector<char> done(B, 0);
  std::vector<T> Z, X;
  const int Ne = c.enc_layers, Nd = c.dec_layers;
  for (int t = 1; t <= max_len; ++t) {
    q.shape(B, Ts, t);
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < t; ++j) q.tgt_in[std::size_t(b) * t + j] = prefix[std::size_t(b) * max_len + j];
    std::fill(q.tgt_out.begin(), q.tgt_out.end(), kIgnoreIndex);
    bind(q, false);
    const std::size_t nx = source_size();
    Z.resize(steps_->state_size());
    if (r.root()) this->open_forward(Z.data());
    if (t == 1) {  // the encoder once: X does not depend on the target
      r.forward(*this, Z.data(), 0, Ne);
      X.assign(Z.begin(), Z.begin() + nx);
    } else {
      std::copy(X.begin(), X.end(), Z.begin());
    }
    r.forward(*this, Z.data(), Ne, Ne + Nd);
    if (r.root()) {
      this->close(Z.data(), nullptr);
      for (int b = 0; b < B; ++b) {
        if (done[b]) continue;
        const T* row = head_.logits + (std::size_t(b) * t + t - 1) * head_.V;
        const token_t best = token_t(std::max_element(row, row + head_.V) - row);
        out[std::size_t(b) * max_len + t - 1] = best;
        if (t < max_len) prefix[std::size_t(b) * max_len + t] = best;
        done[b] = best == eos;
      }
    }
    r.share(out.data(), out.size() * sizeof(token_t));
    r.share(prefix.data(), prefix.size() * sizeof(token_t));
    r.share(done.data(), done.size());
    if (std::all_of(done.begin(), done.end(), [](char x) { return x != 0; })) break;
  }
  this->train_ = was_train;
  batch_ = nullptr;
  return out;
}

template class MtModel<float>;
template class MtModel<double>;

}  // namespace lpt
