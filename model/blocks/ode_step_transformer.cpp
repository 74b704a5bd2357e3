#include "model/blocks/ode_step_transformer.hpp"

#include "model/blocks/encoder.hpp"
#include "model/ops/attention.hpp"

namespace lpt {

template <class T>
TransformerSteps<T>::TransformerSteps(ParamStore<T>& params, const TransformerStepsConfig& cfg)
    : StepChainBase<T>(params, cfg.dropout), cfg_(cfg) {
  require(cfg.layers >= 1, "TransformerSteps: needs at least one layer, got ", cfg.layers);
  require(cfg.dims.d >= 1 && cfg.dims.H >= 1 && cfg.dims.d % cfg.dims.H == 0,
          "TransformerSteps: d=", cfg.dims.d, " must be a positive multiple of heads=", cfg.dims.H);
  for (int n = 0; n < cfg.layers; ++n)
    this->add_layer(cfg.prefix + std::to_string(n) + ".", false);
}

template <class T>
LayerCall TransformerSteps<T>::layer_call(int layer) const {
  LayerCall c;
  c.dims = cfg_.dims;
  c.B = this->batch_.B;
  c.T = this->batch_.T;
  c.self_mask = this->batch_.key_mask.empty() ? nullptr : this->batch_.key_mask.data();
  c.causal = cfg_.causal;
  this->set_dropout(c, layer + cfg_.key_layer);
  return c;
}

template <class T>
void TransformerSteps<T>::set_batch(const StepBatch& b) {
  this->check_batch(b, b.T, cfg_.causal);
  this->batch_ = b;
  this->batch_set_ = true;
  const LayerCall c = layer_call(0);
  this->reserve_workspaces(encoder_tape<T>(c).size,
                           encoder_work_size<T>(c, omp_get_max_threads()),
                           encoder_work_size<T>(c, 1));
}

template <class T>
std::size_t TransformerSteps<T>::state_size() const {
  return std::size_t(this->batch_.B) * this->batch_.T * cfg_.dims.d;
}

template <class T>
std::size_t TransformerSteps<T>::tape_size(int layer) const {
  this->check(layer);
  return encoder_tape<T>(layer_call(layer)).size;
}

template <class T>
void TransformerSteps<T>::forward(int layer, T h, const T* u, T* u_next, T* tape) {
  this->check(layer);
  const LayerCall c = layer_call(layer);
  encoder_forward(c, this->weights(layer), h, u, u_next, tape ? tape : this->ws_tape(),
                  this->ws_work());
}

template <class T>
void TransformerSteps<T>::backward(int layer, T h, const T* u, const T* tape, const T* lam_next,
                                   T* lam, T* dtheta) {
  this->check(layer);
  const LayerCall c = layer_call(layer);
  const LayerWeights<T> w = this->weights(layer);
  if (!tape) {
    T* t = this->ws_tape();
    encoder_forward<T>(c, w, h, u, nullptr, t, this->ws_work());
    tape = t;
  }
  encoder_backward(c, w, this->grads(layer, dtheta), h, u, tape, lam_next, lam, this->ws_work());
}

template class TransformerSteps<float>;
template class TransformerSteps<double>;

}  // namespace lpt
