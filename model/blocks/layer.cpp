#include "model/blocks/layer.hpp"

#include "util/error.hpp"

namespace lpt {

const char* layer_param_name(int p) {
  static const char* const names[kDecoderParams] = {
      "ln1_w",      "ln1_b",       "attn.qkv_w", "attn.qkv_b", "attn.proj_w", "attn.proj_b",
      "ln2_w",      "ln2_b",       "mlp.fc_w",   "mlp.fc_b",   "mlp.proj_w",  "mlp.proj_b",
      "lnq_w",      "lnq_b",       "lnkv_w",     "lnkv_b",     "cross.q_w",   "cross.q_b",
      "cross.kv_w", "cross.kv_b",  "cross.proj_w", "cross.proj_b"};
  require(p >= 0 && p < kDecoderParams, "layer_param_name: no layer parameter ", p);
  return names[p];
}

std::vector<int> layer_param_shape(int p, const LayerDims& s) {
  switch (p) {
    case kQkvW: return {3 * s.d, s.d};
    case kQkvB: return {3 * s.d};
    case kProjW: case kCqW: case kCprojW: return {s.d, s.d};
    case kFcW: return {s.dff, s.d};
    case kFcB: return {s.dff};
    case kFc2W: return {s.d, s.dff};
    case kCkvW: return {2 * s.d, s.d};
    case kCkvB: return {2 * s.d};
    default: return {s.d};  // LayerNorm scales/shifts and the d-wide biases
  }
}

template <class T>
void register_layer_params(ParamStore<T>& params, const std::string& prefix, const LayerDims& dims,
                           bool decoder) {
  require(dims.d >= 1 && dims.H >= 1 && dims.d % dims.H == 0 && dims.dff >= 1,
          "layer ", prefix, ": needs d >= 1 divisible by heads and d_ff >= 1, got d=", dims.d,
          " heads=", dims.H, " d_ff=", dims.dff);
  const int n = decoder ? kDecoderParams : kEncoderParams;
  for (int p = 0; p < n; ++p) params.add(prefix + layer_param_name(p), layer_param_shape(p, dims));
}

template void register_layer_params<float>(ParamStore<float>&, const std::string&,
                                           const LayerDims&, bool);
template void register_layer_params<double>(ParamStore<double>&, const std::string&,
                                            const LayerDims&, bool);

}  // namespace lpt
