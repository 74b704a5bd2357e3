#pragma once
// BERT: encoder masked LM (docs/parameters.md): u0 = wte[tok] + wpe[pos] (dropout), N
// bidirectional layers with key padding, head z = LNm(GELU(dense(LNf(u_N)))),
// logits = z wte^T + mlm.bias, mean cross-entropy over targets != -100.
#include <memory>

#include "model/families/common.hpp"
#include "model/model.hpp"
#include "model/blocks/ode_step_transformer.hpp"

namespace lpt {

template <class T>
class BertModel : public Model<T> {
 public:
  // Needs d_model, heads, d_ff, layers, vocab, max_len.
  explicit BertModel(const ModelConfig& cfg);
  const char* family() const override { return "bert"; }

  // tokens/targets/key_mask [B,T]; referenced until the step is over (see GptModel::set_batch).
  void set_batch(const BertBatch& b);

  OdeStep<T>& steps() override { return *steps_; }
  void embed_forward(T* u0) override;
  double head_close(const T* uN, T* lamN) override;
  void embed_backward(const T* lam0) override;
  const T* logits() const override { return logits_; }
  std::size_t logits_size() const override { return std::size_t(N_) * this->cfg_.vocab; }
  EvalCounts eval_counts() const override;  // accuracy over the masked positions

 private:
  std::unique_ptr<TransformerSteps<T>> steps_;
  const BertBatch* batch_ = nullptr;
  int N_ = 0;
  // Head buffers: x = LNf(u), z1 = dense(x), g = GELU(z1), z = LNm(g), logits; and gradients.
  T *x_, *meanf_, *rstdf_, *z1_, *g_, *z_, *meanm_, *rstdm_, *logits_, *dlogits_, *losses_, *lse_;
  T *dz_, *dg_, *dx_, *dscratch_;
  double loss_ = 0;
};

}  // namespace lpt
