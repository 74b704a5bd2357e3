#include "model/blocks/ode_step_translation.hpp"

#include <algorithm>

#include "model/blocks/decoder.hpp"
#include "model/blocks/encoder.hpp"
#include "model/ops/elementwise.hpp"

namespace lpt {

template <class T>
TranslationSteps<T>::TranslationSteps(ParamStore<T>& params, const TranslationStepsConfig& cfg)
    : StepChainBase<T>(params, cfg.dropout), cfg_(cfg) {
  require(cfg.enc_layers >= 1 && cfg.dec_layers >= 1,
          "TranslationSteps: needs >= 1 encoder and >= 1 decoder layer, got ", cfg.enc_layers,
          " and ", cfg.dec_layers);
  require(cfg.dims.d >= 1 && cfg.dims.H >= 1 && cfg.dims.d % cfg.dims.H == 0,
          "TranslationSteps: d=", cfg.dims.d, " must be a positive multiple of heads=", cfg.dims.H);
  for (int n = 0; n < cfg.enc_layers; ++n) this->add_layer("enc." + std::to_string(n) + ".", false);
  for (int k = 0; k < cfg.dec_layers; ++k) this->add_layer("dec." + std::to_string(k) + ".", true);
}

template <class T>
LayerCall TranslationSteps<T>::layer_call(int layer) const {
  const StepBatch& b = this->batch_;
  const std::uint8_t* src_mask = b.key_mask.empty() ? nullptr : b.key_mask.data();
  LayerCall c;
  c.dims = cfg_.dims;
  c.B = b.B;
  if (is_decoder(layer)) {
    c.T = b.T_tgt;
    c.Tmem = b.T;
    c.mem_mask = src_mask;
    c.causal = true;
  } else {
    c.T = b.T;
    c.self_mask = src_mask;
  }
  this->set_dropout(c, layer);
  return c;
}

template <class T>
void TranslationSteps<T>::set_batch(const StepBatch& b) {
  this->check_batch(b, b.T, false);
  require(b.T_tgt >= 1, "TranslationSteps batch: target length T_tgt must be >= 1, got ", b.T_tgt);
  this->batch_ = b;
  this->batch_set_ = true;
  const LayerCall e = layer_call(0), d = layer_call(cfg_.enc_layers);
  const int mt = omp_get_max_threads();
  this->reserve_workspaces(std::max(encoder_tape<T>(e).size, decoder_tape<T>(d).size),
                           std::max(encoder_work_size<T>(e, mt), decoder_work_size<T>(d, mt)),
                           std::max(encoder_work_size<T>(e, 1), decoder_work_size<T>(d, 1)));
}

template <class T>
std::size_t TranslationSteps<T>::source_size() const {
  return std::size_t(this->batch_.B) * this->batch_.T * cfg_.dims.d;
}

template <class T>
std::size_t TranslationSteps<T>::state_size() const {
  return source_size() + std::size_t(this->batch_.B) * this->batch_.T_tgt * cfg_.dims.d;
}

template <class T>
std::size_t TranslationSteps<T>::tape_size(int layer) const {
  this->check(layer);
  const LayerCall c = layer_call(layer);
  return is_decoder(layer) ? decoder_tape<T>(c).size : encoder_tape<T>(c).size;
}

template <class T>
void TranslationSteps<T>::forward(int layer, T h, const T* u, T* u_next, T* tape) {
  this->check(layer);
  const LayerCall c = layer_call(layer);
  const std::size_t nx = source_size(), ny = state_size() - nx;
  T* t = tape ? tape : this->ws_tape();
  if (is_decoder(layer)) {
    if (u_next != u) ops::copy(u_next, u, nx);
    decoder_forward(c, this->weights(layer), h, u + nx, u, u_next + nx, t, this->ws_work());
  } else {
    encoder_forward(c, this->weights(layer), h, u, u_next, t, this->ws_work());
    if (u_next != u) ops::copy(u_next + nx, u + nx, ny);
  }
}

template <class T>
void TranslationSteps<T>::backward(int layer, T h, const T* u, const T* tape, const T* lam_next,
                                   T* lam, T* dtheta) {
  this->check(layer);
  const LayerCall c = layer_call(layer);
  const LayerWeights<T> w = this->weights(layer);
  const LayerGrads<T> g = this->grads(layer, dtheta);
  const std::size_t nx = source_size(), ny = state_size() - nx;
  const bool dec = is_decoder(layer);
  if (!tape) {
    T* t = this->ws_tape();
    if (dec)
      decoder_forward<T>(c, w, h, u + nx, u, nullptr, t, this->ws_work());
    else
      encoder_forward<T>(c, w, h, u, nullptr, t, this->ws_work());
    tape = t;
  }
  if (dec) {
    if (lam && lam != lam_next) ops::copy(lam, lam_next, nx);
    decoder_backward(c, w, g, h, u + nx, u, tape, lam_next + nx, lam ? lam + nx : nullptr, lam,
                     this->ws_work());
  } else {
    encoder_backward(c, w, g, h, u, tape, lam_next, lam, this->ws_work());
    if (lam && lam != lam_next) ops::copy(lam + nx, lam_next + nx, ny);
  }
}

template class TranslationSteps<float>;
template class TranslationSteps<double>;

}  // namespace lpt
