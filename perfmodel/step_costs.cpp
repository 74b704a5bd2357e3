#include "perfmodel/step_costs.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace lpt::perf {

namespace {

// The file's keys, each beside its field: the reader, the writer and the list of allowed keys
// all come from here. Required keys must be in every file; the rest are 0 when absent.
struct TimeKey {
  const char* key;
  int MeasuredLayerTimes::*shape;  // the shape measured (integers), or
  double MeasuredLayerTimes::*time;  // a time in seconds
  bool required;
};

const std::vector<TimeKey>& time_keys() {
  using M = MeasuredLayerTimes;
  static const std::vector<TimeKey> k = {
      {"batch", &M::batch, nullptr, true},
      {"seq", &M::seq, nullptr, true},
      {"d", &M::d, nullptr, true},
      {"heads", &M::heads, nullptr, true},
      {"d_ff", &M::d_ff, nullptr, true},
      {"forward_s", nullptr, &M::forward_s, true},
      {"vjp_state_s", nullptr, &M::vjp_state_s, true},
      {"param_grad_s", nullptr, &M::param_grad_s, true},
      {"serial_forward_s", nullptr, &M::serial_forward_s, false},
      {"serial_backward_s", nullptr, &M::serial_backward_s, false},
      {"optimizer_per_param_s", nullptr, &M::optimizer_per_param_s, false},
      {"vector_op_s", nullptr, &M::vector_op_s, false},
      {"adjoint_step_s", nullptr, &M::adjoint_step_s, false},
  };
  return k;
}

}  // namespace

MeasuredLayerTimes measured_times_from_json(const nlohmann::json& j, const std::string& where) {
  require(j.is_object(), where, ": expected a JSON object");
  const auto& keys = time_keys();
  for (const auto& [k, v] : j.items()) {
    (void)v;
    const bool known = std::any_of(keys.begin(), keys.end(),
                                   [&](const TimeKey& t) { return k == t.key; });
    require(known, where, ": unknown key '", k, "'");
  }
  MeasuredLayerTimes m;
  for (const auto& t : keys) {
    if (!j.contains(t.key)) {
      require(!t.required, where, ": missing key '", t.key, "'");
      continue;
    }
    const auto& v = j.at(t.key);
    require(v.is_number() && v.get<double>() > 0, where, ": '", t.key, "' must be > 0");
    if (t.shape) {
      require(v.get<double>() == static_cast<int>(v.get<double>()), where, ": '", t.key,
              "' must be an integer");
      m.*t.shape = static_cast<int>(v.get<double>());
    } else {
      m.*t.time = v.get<double>();
    }
  }
  return m;
}

nlohmann::json measured_times_to_json(const MeasuredLayerTimes& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& t : time_keys()) {
    if (t.shape) {
      j[t.key] = m.*t.shape;
    } else if (t.required || m.*t.time > 0) {
      j[t.key] = m.*t.time;
    }
  }
  return j;
}

MeasuredLayerTimes load_measured_times(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "cannot open measured layer times '", path, "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    fail("measured layer times '", path, "' are not valid JSON: ", e.what());
  }
  return measured_times_from_json(j, path);
}

StepCosts step_costs(const ModelShape& s, const HardwareProfile& hw,
                     const MeasuredLayerTimes* measured) {
  s.validate();
  if (measured) {
    require(s.family != Family::mt,
            "measured layer times hold one layer kind; a translation model has two, so predict "
            "it from FLOPs (drop the measured times)");
    require(measured->batch == s.batch && measured->seq == s.tokens() && measured->d == s.d &&
                measured->heads == s.heads && measured->d_ff == s.d_ff,
            "measured layer times are for B=", measured->batch, " T=", measured->seq,
            " d=", measured->d, " H=", measured->heads, " d_ff=", measured->d_ff,
            " but the model has B=", s.batch, " T=", s.tokens(), " d=", s.d, " H=", s.heads,
            " d_ff=", s.d_ff, "; calibrate at the predicted shape");
  }
  StepCosts c;
  const int N = s.layers;
  c.forward.resize(N);
  c.vjp_state.resize(N);
  c.param_grad.resize(N);
  c.serial_forward.resize(N);
  c.adjoint_step.resize(N);
  c.serial_backward.resize(N);
  c.params.resize(N);
  c.tape_bytes.resize(N);
  // Layers of one kind cost the same: evaluate each kind once.
  LayerCost enc = step_layer_cost(s, 0);
  LayerCost dec = s.family == Family::mt ? step_layer_cost(s, s.enc_layers) : enc;
  auto times = [&](const LayerCost& l) {
    if (measured) return std::array<double, 3>{measured->forward_s, measured->vjp_state_s,
                                               measured->param_grad_s};
    return std::array<double, 3>{op_time(l.forward, hw, s.act_bytes),
                                 op_time(l.vjp_state, hw, s.act_bytes),
                                 op_time(l.param_grad, hw, s.act_bytes)};
  };
  const auto te = times(enc), td = times(dec);
  for (int n = 0; n < N; ++n) {
    const bool is_dec = s.family == Family::mt && n >= s.enc_layers;
    const auto& t = is_dec ? td : te;
    const LayerCost& l = is_dec ? dec : enc;
    c.forward[n] = t[0];
    c.vjp_state[n] = t[1];
    c.param_grad[n] = t[2];
    const bool cold = measured && measured->serial_forward_s > 0 && measured->serial_backward_s > 0;
    c.serial_forward[n] = cold ? measured->serial_forward_s : t[0];
    c.adjoint_step[n] =
        measured && measured->adjoint_step_s > 0 ? measured->adjoint_step_s : t[0] + t[1];
    c.serial_backward[n] = cold ? measured->serial_backward_s : t[1] + t[2];
    c.params[n] = l.params;
    c.tape_bytes[n] = l.tape_bytes;
  }
  const EndCost open = opening_cost(s), close = closing_cost(s);
  c.opening_fwd = op_time(open.forward, hw, s.act_bytes);
  c.opening_bwd = op_time(open.backward, hw, s.act_bytes);
  c.closing_fwd = op_time(close.forward, hw, s.act_bytes);
  c.closing_bwd = op_time(close.backward, hw, s.act_bytes);
  c.opening_params = open.params;
  c.closing_params = close.params;
  c.tied_params = tied_params(s);
  c.closing_workspace = close.workspace_bytes;
  c.state_bytes = state_bytes(s);
  // y += a·x over one state: read two, write one.
  c.vector_op_s = 3 * c.state_bytes / hw.memory_bandwidth + hw.kernel_overhead_s;
  // AdamW on fp32 master weights: read w, g, m, v and write w, m, v (7 × 4 bytes), plus the bf16
  // copy of w when activations are bf16.
  c.optimizer_bytes_per_param = 28 + (s.act_bytes == 2 ? 2 : 0);
  if (measured) c.optimizer_per_param_s = measured->optimizer_per_param_s;
  if (measured && measured->vector_op_s > 0) c.vector_op_s = measured->vector_op_s;
  return c;
}

}  // namespace lpt::perf
