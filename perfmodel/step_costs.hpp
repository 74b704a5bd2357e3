#pragma once
// Seconds per fine step (forward, state VJP, parameter gradient) along the layer chain, and the
// costs of what sits outside the chain, for one model shape on one hardware profile. Measured
// per-layer times from a calibration run can replace the FLOP-derived ones.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "perfmodel/hardware.hpp"
#include "perfmodel/layer_cost.hpp"

namespace lpt::perf {

// Times of one layer measured by a calibration run, with the shape they were measured at (a
// mismatch with the shape being predicted is an error rather than a silent rescale).
struct MeasuredLayerTimes {
  int batch = 0, seq = 0, d = 0, heads = 0, d_ff = 0;
  double forward_s = 0, vjp_state_s = 0, param_grad_s = 0;
  // Optional (0: not measured). The serial step keeps all N tapes, which at depth live in
  // memory rather than cache: its forward writing a tape and its VJP + parameter gradient
  // reading one, measured that way. And the optimizer's time per parameter.
  double serial_forward_s = 0, serial_backward_s = 0, optimizer_per_param_s = 0;
  // One axpy over a state as MGRIT's vector operations meet it (a state of a small model stays
  // in cache, where the profile's memory bandwidth would overcharge it).
  double vector_op_s = 0;
  // One adjoint step as the solver runs it without stored tapes: the layer's forward replayed
  // into a workspace, then the state VJP (0: forward_s + vjp_state_s).
  double adjoint_step_s = 0;
};
// JSON object with the keys batch, seq, d, heads, d_ff, forward_s, vjp_state_s, param_grad_s
// and optionally serial_forward_s, serial_backward_s, optimizer_per_param_s, vector_op_s,
// adjoint_step_s (each > 0); no other key. `lpt calibrate` writes it, `lpt predict --measured`
// reads it; one key table in step_costs.cpp serves both.
MeasuredLayerTimes load_measured_times(const std::string& path);
MeasuredLayerTimes measured_times_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json measured_times_to_json(const MeasuredLayerTimes& m);  // optional times only if > 0

struct StepCosts {
  std::vector<double> forward;     // s, per fine step n
  std::vector<double> vjp_state;   // s
  std::vector<double> param_grad;  // s, on top of vjp_state
  std::vector<double> adjoint_step;  // s, state VJP with the forward replayed (no stored tape)
  // The serial step's layer with its tape kept in (uncached) memory: forward, VJP + gradient.
  std::vector<double> serial_forward, serial_backward;
  std::vector<double> params;      // parameter count of layer n
  std::vector<double> tape_bytes;  // activations of layer n kept for its backward
  double opening_fwd = 0, opening_bwd = 0, closing_fwd = 0, closing_bwd = 0;  // s
  double opening_params = 0, closing_params = 0, tied_params = 0;
  double closing_workspace = 0;  // bytes
  double state_bytes = 0;        // one state = one MGRIT message
  double vector_op_s = 0;        // one axpy over a state (MGRIT corrections and residuals)
  double optimizer_bytes_per_param = 0;
  double optimizer_per_param_s = 0;  // measured; 0: the roofline from the bytes
};

StepCosts step_costs(const ModelShape& s, const HardwareProfile& hw,
                     const MeasuredLayerTimes* measured = nullptr);

}  // namespace lpt::perf
