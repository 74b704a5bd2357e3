#pragma once
// GPT: decoder-only language model (docs/parameters.md): u0 = wte[tok] + wpe[pos] (dropout),
// N causal pre-LN layers `layers.n.`, logits = LNf(u_N) wte^T, mean cross-entropy over
// targets != -100. Parameters are registered opening (wte, wpe), layers, closing (lnf_*), so
// every layer is one contiguous slice.
#include <memory>

#include "model/families/common.hpp"
#include "model/model.hpp"
#include "model/blocks/ode_step_transformer.hpp"

namespace lpt {

template <class T>
class GptModel : public Model<T> {
 public:
  // Needs d_model, heads, d_ff, layers, vocab, max_len.
  explicit GptModel(const ModelConfig& cfg);
  const char* family() const override { return "gpt"; }

  // tokens/targets [B,T], T <= max_len. The batch is referenced, not copied: keep it alive and
  // unchanged until the step (open ... open_backward) is over.
  void set_batch(const GptBatch& b);

  OdeStep<T>& steps() override { return *steps_; }
  void embed_forward(T* u0) override;
  double head_close(const T* uN, T* lamN) override;
  void embed_backward(const T* lam0) override;
  const T* logits() const override { return head_.logits; }
  std::size_t logits_size() const override { return std::size_t(head_.N) * head_.V; }
  EvalCounts eval_counts() const override;

 private:
  std::unique_ptr<TransformerSteps<T>> steps_;
  const GptBatch* batch_ = nullptr;
  LmHead<T> head_;
  T* dscratch_ = nullptr;  // [B·T·d] λ0 through the embedding dropout
  double loss_ = 0;
};

}  // namespace lpt
