#pragma once
// ViT (docs/parameters.md): images [B,C,H,W] cut into P = (H/p)(W/p) patches flattened in
// (c, i, j) order, u0[b] = [cls; patch_w · patch + patch_b] + pos (dropout), T = 1 + P tokens,
// N bidirectional layers without mask, logits = head(LNf(u_N)[:, 0]), mean cross-entropy over
// the labels (label smoothing optional).
#include <memory>
#include <vector>

#include "model/families/common.hpp"
#include "model/model.hpp"
#include "model/blocks/ode_step_transformer.hpp"

namespace lpt {

template <class T>
class VitModel : public Model<T> {
 public:
  // Needs d_model, heads, d_ff, layers, channels, image_h, image_w, patch, n_classes.
  explicit VitModel(const ModelConfig& cfg);
  const char* family() const override { return "vit"; }

  // images [B,C,H,W] with the configured C, H, W; labels [B]. Referenced until the step is over.
  void set_batch(const VitBatch& b);
  int tokens() const { return 1 + patches_; }  // T = 1 + P

  OdeStep<T>& steps() override { return *steps_; }
  void embed_forward(T* u0) override;
  double head_close(const T* uN, T* lamN) override;
  void embed_backward(const T* lam0) override;
  const T* logits() const override { return logits_; }
  std::size_t logits_size() const override { return std::size_t(B_) * this->cfg_.n_classes; }
  EvalCounts eval_counts() const override;

 private:
  std::unique_ptr<TransformerSteps<T>> steps_;
  const VitBatch* batch_ = nullptr;
  int B_ = 0, patches_ = 0, patch_len_ = 0;
  T *patch_in_, *patch_out_, *cls_x_, *y_, *mean_, *rstd_, *logits_, *dlogits_, *losses_, *lse_;
  T *dy_, *dcls_, *dscratch_;
  double loss_ = 0;
};

}  // namespace lpt
