#pragma once
// The ODE chain of the encoder-only families: N layers `layers.n.` (docs/parameters.md), each the
// step u' = u + h (φ1(u) + φ2(u + φ1(u))) of model/blocks/encoder.hpp. GPT: causal; BERT: key
// padding from the batch; ViT: neither. The state is u[B, T, d] flat.
#include <string>

#include "model/blocks/layer.hpp"
#include "model/blocks/ode_step_chain.hpp"

namespace lpt {

struct TransformerStepsConfig {
  LayerDims dims;
  int layers = 0;
  bool causal = false;   // GPT
  double dropout = 0;    // p on the outputs of φ1 and φ2 (training batches only)
  std::string prefix = "layers.";
  int key_layer = 0;  // added to the layer index in dropout keys (edge layers: masks of their own)
};

template <class T>
class TransformerSteps : public StepChainBase<T> {
 public:
  // params must hold the layer tensors (register_layer_params) and stay alive; values are read
  // at every call, so optimizer updates are seen without rebuilding.
  TransformerSteps(ParamStore<T>& params, const TransformerStepsConfig& cfg);

  // Per batch, before a solve (outside any parallel region): sizes the workspaces.
  // key_mask, if given, is [B, T] key padding.
  void set_batch(const StepBatch& b);

  std::size_t state_size() const override;
  std::size_t tape_size(int layer) const override;
  void forward(int layer, T h, const T* u, T* u_next, T* tape) override;
  void backward(int layer, T h, const T* u, const T* tape, const T* lam_next, T* lam,
                T* dtheta) override;

  LayerCall layer_call(int layer) const;  // what one call of `layer` sees under this batch

 private:
  TransformerStepsConfig cfg_;
};

}  // namespace lpt
