#pragma once
// BERT with a sequence-classification head, for fine-tuning an encoder pretrained as a masked LM
// (BertModel) on a downstream task: the same opening and layers (wte, wpe, layers.n., lnf), so a
// pretrained checkpoint loads into it with train.init_from, and a head `cls.` in place of `mlm.`:
// x = LNf(u_N) [B,T,d]; p[b] = mean of x[b,t] over the real tokens (key_mask 1) [B,d];
// z = GELU(p · cls.dense_w^T + cls.dense_b) [B,d]; logits = z · cls.out_w^T + cls.out_b [B,C];
// mean cross-entropy over the labels (label smoothing optional).
// Mean pooling rather than a [CLS] token: the masked-LM pretraining has no such token, so a
// [CLS] embedding would start untrained while the mean of pretrained states does not.
#include <memory>

#include "model/families/common.hpp"
#include "model/model.hpp"
#include "model/blocks/ode_step_transformer.hpp"

namespace lpt {

template <class T>
class BertClassifier : public Model<T> {
 public:
  // Needs d_model, heads, d_ff, layers, vocab, max_len, n_classes.
  explicit BertClassifier(const ModelConfig& cfg);
  const char* family() const override { return "bert"; }

  // tokens/key_mask [B,T], labels [B]; referenced until the step is over. Every row needs a
  // real token.
  void set_batch(const TextClassBatch& b);

  OdeStep<T>& steps() override { return *steps_; }
  void embed_forward(T* u0) override;
  double head_close(const T* uN, T* lamN) override;
  void embed_backward(const T* lam0) override;
  const T* logits() const override { return logits_; }
  std::size_t logits_size() const override { return std::size_t(B_) * this->cfg_.n_classes; }
  EvalCounts eval_counts() const override;  // accuracy over the sequences

 private:
  std::unique_ptr<TransformerSteps<T>> steps_;
  const TextClassBatch* batch_ = nullptr;
  int B_ = 0, T_ = 0;
  std::vector<T> inv_count_;  // 1 / real tokens of each row
  // x = LNf(u) [N,d], pooled p, z1 = dense(p), g = GELU(z1) [B,d], logits [B,C]; gradients.
  T *x_, *mean_, *rstd_, *pooled_, *z1_, *g_, *logits_, *dlogits_, *losses_, *lse_;
  T *dg_, *dz1_, *dpooled_, *dx_, *dscratch_;
  double loss_ = 0;
};

}  // namespace lpt
