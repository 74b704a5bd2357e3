#pragma once
// Encoder-decoder translation as ONE time axis on the stacked state Z = [X (B·Ts·d), Y (B·Tt·d)]
// (flat, X first). Steps 0..N_enc−1 move X with the encoder layers `enc.n.` (bidirectional,
// source key padding) and copy Y; steps N_enc..N_enc+N_dec−1 move Y with the decoder layers
// `dec.k.` against the memory X (copied unchanged). The VJP of a decoder step gives
// λ_X = λ'_X + h (∂F_dec/∂X)^T λ'_Y and λ_Y as usual.
#include "model/blocks/layer.hpp"
#include "model/blocks/ode_step_chain.hpp"

namespace lpt {

struct TranslationStepsConfig {
  LayerDims dims;
  int enc_layers = 0;
  int dec_layers = 0;
  double dropout = 0;
};

template <class T>
class TranslationSteps : public StepChainBase<T> {
 public:
  TranslationSteps(ParamStore<T>& params, const TranslationStepsConfig& cfg);

  // b.T = source length Ts, b.T_tgt = target length Tt, b.key_mask = source mask [B, Ts].
  void set_batch(const StepBatch& b);

  std::size_t state_size() const override;
  std::size_t tape_size(int layer) const override;
  void forward(int layer, T h, const T* u, T* u_next, T* tape) override;
  void backward(int layer, T h, const T* u, const T* tape, const T* lam_next, T* lam,
                T* dtheta) override;

  bool is_decoder(int layer) const { return layer >= cfg_.enc_layers; }
  std::size_t source_size() const;  // elements of X; Y starts there
  LayerCall layer_call(int layer) const;

 private:
  TranslationStepsConfig cfg_;
};

}  // namespace lpt
