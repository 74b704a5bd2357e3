#include "perfmodel/step_costs.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace lpt::perf {

MeasuredLayerTimes load_measured_times(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "cannot open measured layer times '", path, "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    fail("measured layer times '", path, "' are not valid JSON: ", e.what());
  }
  const std::vector<std::string> ints = {"batch", "seq", "d", "heads", "d_ff"};
  const std::vector<std::string> times = {"forward_s", "vjp_state_s", "param_grad_s"};
  const std::vector<std::string> optional = {"serial_forward_s", "serial_backward_s",
                                             "optimizer_per_param_s", "vector_op_s",
                                             "adjoint_step_s"};
  require(j.is_object(), path, ": expected a JSON object");
  for (const auto& [k, v] : j.items()) {
    (void)v;
    const bool known = std::find(ints.begin(), ints.end(), k) != ints.end() ||
                       std::find(times.begin(), times.end(), k) != times.end() ||
                       std::find(optional.begin(), optional.end(), k) != optional.end();
    require(known, path, ": unknown key '", k, "'");
  }
  auto num = [&](const std::string& k) {
    require(j.contains(k), path, ": missing key '", k, "'");
    require(j[k].is_number() && j[k].get<double>() > 0, path, ": '", k, "' must be > 0");
    return j[k].get<double>();
  };
  MeasuredLayerTimes m;
  m.batch = static_cast<int>(num("batch"));
  m.seq = static_cast<int>(num("seq"));
  m.d = static_cast<int>(num("d"));
  m.heads = static_cast<int>(num("heads"));
  m.d_ff = static_cast<int>(num("d_ff"));
  m.forward_s = num("forward_s");
  m.vjp_state_s = num("vjp_state_s");
  m.param_grad_s = num("param_grad_s");
  if (j.contains("serial_forward_s")) m.serial_forward_s = num("serial_forward_s");
  if (j.contains("serial_backward_s")) m.serial_backward_s = num("serial_backward_s");
  if (j.contains("optimizer_per_param_s")) m.optimizer_per_param_s = num("optimizer_per_param_s");
  if (j.contains("vector_op_s")) m.vector_op_s = num("vector_op_s");
  if (j.contains("adjoint_step_s")) m.adjoint_step_s = num("adjoint_step_s");
  return m;
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
