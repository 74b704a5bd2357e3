#pragma once
// What the encoder and decoder layers share: dimensions, the per-layer parameter list of
// docs/parameters.md (registration and pointers), the per-call context and buffer carving.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/params.hpp"

namespace lpt {

struct LayerDims {
  int d = 0;    // model width
  int H = 1;    // heads (d % H == 0)
  int dff = 0;  // MLP hidden width
};

// Parameters of one layer in registration order (docs/parameters.md); an encoder / GPT / BERT /
// ViT layer has the first kEncoderParams, a decoder layer all kDecoderParams.
enum LayerParam : int {
  kLn1W, kLn1B, kQkvW, kQkvB, kProjW, kProjB, kLn2W, kLn2B, kFcW, kFcB, kFc2W, kFc2B,
  kEncoderParams,
  kLnqW = kEncoderParams, kLnqB, kLnkvW, kLnkvB, kCqW, kCqB, kCkvW, kCkvB, kCprojW, kCprojB,
  kDecoderParams
};

// "attn.qkv_w" etc.: the name after the layer prefix ("layers.3.", "enc.0.", "dec.1.").
const char* layer_param_name(int p);
std::vector<int> layer_param_shape(int p, const LayerDims& dims);

// Registers one layer's tensors under prefix (e.g. "layers.3.") so that they form one slice.
template <class T>
void register_layer_params(ParamStore<T>& params, const std::string& prefix, const LayerDims& dims,
                           bool decoder);

template <class T>
struct LayerWeights {
  std::array<const T*, kDecoderParams> w{};
  const T* operator[](int p) const { return w[p]; }
};
// Gradient pointers; all null when only the state VJP is wanted.
template <class T>
struct LayerGrads {
  std::array<T*, kDecoderParams> g{};
  T* operator[](int p) const { return g[p]; }
};

// Everything one layer call needs besides weights and buffers.
struct LayerCall {
  LayerDims dims;
  int B = 1;
  int T = 1;     // rows per sequence of the moving state (decoder: target length)
  int Tmem = 0;  // decoder: memory (source) length
  const std::uint8_t* self_mask = nullptr;  // [B,T] key padding of self-attention, or null
  const std::uint8_t* mem_mask = nullptr;   // [B,Tmem] key padding of the memory, or null
  bool causal = false;
  double dropout = 0;                     // p; 0 = no dropout at all
  std::uint64_t key_phi1 = 0, key_phi2 = 0, key_phi3 = 0;  // dropout_key per site
  int rows() const { return B * T; }
  int mem_rows() const { return B * Tmem; }
};

// Carves consecutive 64-byte aligned sub-buffers (offsets in elements) out of one buffer, so a
// tape and a workspace have the same alignment pattern wherever they live.
template <class T>
struct Carver {
  static constexpr std::size_t kAlignElems = 64 / sizeof(T) ? 64 / sizeof(T) : 1;
  std::size_t size = 0;
  std::size_t take(std::size_t n) {
    const std::size_t at = size;
    size += (n + kAlignElems - 1) / kAlignElems * kAlignElems;
    return at;
  }
};

}  // namespace lpt
