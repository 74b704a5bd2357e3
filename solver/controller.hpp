#pragma once
// The switching rule of adaptive training: from the bias measured at each check, decide whether
// layer-parallel training may go on as it is, must raise its MGRIT iterations, or must switch to
// exact serial training. The rule and its reasoning are in docs/controller.md.
//
// The controller is a pure function of its options, state and the metrics it is given: every MPI
// rank that feeds it the same metrics reaches the same decision, and a state restored from a
// checkpoint continues bit-identically. It knows nothing of models or records; the trainer
// applies a decision (iteration counts, mode) and records it.
#include <functional>
#include <string>
#include <vector>

namespace lpt::mgrit {

// serial: exact forward and backward. parallel: MGRIT forward and adjoint.
// serial_forward: exact forward, MGRIT adjoint.
enum class TrainMode { serial, parallel, serial_forward };
const char* to_string(TrainMode m);                // "serial" | "parallel" | "serial_forward"
TrainMode parse_train_mode(const std::string& s);  // the same names; lpt::Error otherwise

enum class ControlAction { raise_iterations, serial };  // what to do on a trigger
const char* to_string(ControlAction a);                 // "raise" | "serial"
// "raise" | "serial"; lpt::Error otherwise
ControlAction parse_control_action(const std::string& s);

// Setters validate (an lpt::Error names the option and the fix).
class ControllerOptions {
 public:
  void set_eta(double eta);                   // 0 < eta < 1, default 0.5
  void set_patience(int checks);              // >= 1, default 3
  void set_action(ControlAction a);           // default raise_iterations
  void set_iteration_step(int k);             // >= 1, default 1 (added to fwd and bwd per raise)
  void set_max_iterations(int fwd, int bwd);  // caps, each >= 1, default 8, 8

  double eta() const { return eta_; }
  int patience() const { return patience_; }
  ControlAction action() const { return action_; }
  int iteration_step() const { return iteration_step_; }
  int max_forward_iterations() const { return max_fwd_; }
  int max_backward_iterations() const { return max_bwd_; }

 private:
  double eta_ = 0.5;
  int patience_ = 3;
  ControlAction action_ = ControlAction::raise_iterations;
  int iteration_step_ = 1;
  int max_fwd_ = 8, max_bwd_ = 8;
};

struct ControlMetrics {   // what one check measured
  double bias_ratio = 0;  // BiasEstimate::bias_ratio (the rule's input)
  double rel_error = 0, cosine = 1, bias_vs_spread = 0;  // reported in reasons only
};

struct ControlState {  // everything needed to resume bit-identically (checkpoints)
  TrainMode mode = TrainMode::parallel;
  int fwd_iters = 2, bwd_iters = 1;  // MGRIT iterations in force (fwd unused in serial_forward)
  int strikes = 0;                   // consecutive checks above eta
  long checks = 0;                   // checks seen (not counted once serial)
  double raise_bias = 0;             // bias of the check that triggered the last raise (0: none)
  // [format tag, mode, fwd, bwd, strikes, checks, raise_bias] as doubles (exact for every value
  // that can occur), for a checkpoint's float64 array. unpack also reads the six-entry format 1
  // (no raise yet recorded) and rejects anything else with an lpt::Error.
  std::vector<double> pack() const;
  static ControlState unpack(const std::vector<double>& v);
};
bool operator==(const ControlState& a, const ControlState& b);
inline bool operator!=(const ControlState& a, const ControlState& b) { return !(a == b); }

struct ControlDecision {
  enum class Kind { hold, raise, to_serial } kind = Kind::hold;
  long step = 0;
  ControlState before, after;
  // One line with the numbers, e.g.
  // "bias 0.62 > eta 0.5 for 3/3 checks; fwd 2->3, bwd 1->2 (rel error 0.8, cosine 0.6, ...)".
  std::string reason;
  const char* action_name() const;  // "hold" | "raise" | "serial"
};

class Controller {
 public:
  // The initial state is validated like set_state.
  Controller(const ControllerOptions& o, ControlState initial);

  // Optional cost oracle (the perf model): true when parallel at (fwd, bwd) iterations is still
  // predicted faster than serial. When set and a raise would make parallel slower, switch to
  // serial instead. In serial_forward mode the forward is exact and the oracle is asked with
  // fwd = 0, meaning "serial forward", not "zero MGRIT iterations". An empty function clears it.
  void set_cost_oracle(std::function<bool(int fwd, int bwd)> f);

  // One check at training step `step`. Once serial it is a no-op hold (state unchanged): exact
  // gradients have nothing to control, and there is no way back (docs/controller.md).
  ControlDecision check(long step, const ControlMetrics& m);

  const ControlState& state() const { return state_; }
  void set_state(const ControlState& s);  // lpt::Error on negative counts
  const ControllerOptions& options() const { return options_; }

 private:
  ControllerOptions options_;
  ControlState state_;
  std::function<bool(int, int)> oracle_;
};

}  // namespace lpt::mgrit
