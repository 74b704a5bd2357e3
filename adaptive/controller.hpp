#pragma once
// The switching rule of adaptive training: from the bias measured at each check, its trend over
// the last checks, and the cheap residuals of every step's solves, decide when to check, and
// whether layer-parallel training may go on as it is, must raise its MGRIT iterations, or must
// switch to exact serial training. The rule and its reasoning are in docs/controller.md.
//
// The controller is a pure function of its options, state and the numbers it is given: every MPI
// rank that feeds it the same numbers reaches the same decision, and a state restored from a
// checkpoint continues bit-identically. It knows nothing of models or records; the trainer
// applies a decision (iteration counts, mode, the next check) and records it.
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "adaptive/bias_trend.hpp"

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

// Which counts a raise adds to. backward_first: the backward count alone while it is below the
// forward one (at initialization the adjoint solve carries almost all of the error), then both.
enum class RaiseOrder { backward_first, both };
const char* to_string(RaiseOrder o);                // "backward_first" | "both"
RaiseOrder parse_raise_order(const std::string& s);  // lpt::Error otherwise

// Setters validate (an lpt::Error names the option and the fix). The defaults are the rule
// documented in docs/controller.md; the data that chose them are there too.
class ControllerOptions {
 public:
  void set_eta(double eta);                   // 0 < eta < 1, default 0.5
  void set_patience(int checks);              // >= 1, default 3
  void set_action(ControlAction a);           // default serial (docs/controller.md: why)
  void set_raise_order(RaiseOrder o);         // default backward_first
  void set_iteration_step(int k);             // >= 1, default 1 (added per raise)
  void set_max_iterations(int fwd, int bwd);  // caps, each >= 1, default 8, 8
  void set_check_every(long steps);           // >= 1, default 25: steps between regular checks
  // Trend trigger: over the last `window` checks (2..64) of the setting in force, each reading
  // above the one before, a fitted growth of at least `growth` (> 1) whose projection `horizon`
  // steps ahead exceeds eta, with the latest bias at least `floor`. horizon 0 turns it off.
  // Defaults 50, 3, 4, 0.01.
  void set_trend(long horizon, int window, double growth, double floor);
  // After a raise, check again `steps` (>= 1, default 5) later; the raise has helped when that
  // check's bias is at most `gain` (0 < gain <= 1, default 0.5) times the bias that prompted it.
  void set_recheck(long steps, double gain);
  // Early check when a solve's relative final residual grows by this factor (> 1) over its value
  // at the last check; 0 turns it off. Default 10.
  void set_alarm_growth(double factor);

  double eta() const { return eta_; }
  int patience() const { return patience_; }
  ControlAction action() const { return action_; }
  RaiseOrder raise_order() const { return order_; }
  int iteration_step() const { return iteration_step_; }
  int max_forward_iterations() const { return max_fwd_; }
  int max_backward_iterations() const { return max_bwd_; }
  long check_every() const { return every_; }
  long trend_horizon() const { return horizon_; }
  int trend_window() const { return window_; }
  double trend_growth() const { return growth_; }
  double trend_floor() const { return floor_; }
  long recheck_steps() const { return recheck_; }
  double raise_gain() const { return gain_; }
  double alarm_growth() const { return alarm_; }

 private:
  double eta_ = 0.5;
  int patience_ = 3;
  ControlAction action_ = ControlAction::serial;
  RaiseOrder order_ = RaiseOrder::backward_first;
  int iteration_step_ = 1;
  int max_fwd_ = 8, max_bwd_ = 8;
  long every_ = 25;
  long horizon_ = 50;
  int window_ = 3;
  double growth_ = 4, floor_ = 0.01;
  long recheck_ = 5;
  double gain_ = 0.5;
  double alarm_ = 10;
};

// The cheap numbers every layer-parallel step gives: each solve's final residual relative to the
// size of its terminal state (‖u_N‖, ‖λ_N‖); 0 where the solve is exact or did not run.
struct SolveIndicators {
  double fwd = 0, adj = 0;
};

struct ControlMetrics {   // what one check measured
  double bias_ratio = 0;  // BiasEstimate::bias_ratio (the rule's input)
  double rel_error = 0, cosine = 1, bias_vs_spread = 0;  // reported in reasons only
  SolveIndicators indicators;  // of the checked step: the alarm's reference until the next check
};

struct ControlState {  // everything needed to resume bit-identically (checkpoints)
  TrainMode mode = TrainMode::parallel;
  int fwd_iters = 2, bwd_iters = 1;  // MGRIT iterations in force (fwd unused in serial_forward)
  int strikes = 0;                   // consecutive checks above eta
  long checks = 0;                   // checks seen (not counted once serial)
  double raise_bias = 0;             // bias of the check that triggered the last raise (0: none)
  long next_check = 0;               // step of the next scheduled check
  long last_check = -1;              // step of the last check (-1: none yet)
  bool verify = false;               // the next check judges the last raise
  SolveIndicators ref;               // indicators at the last check (the alarm's reference)
  std::vector<BiasReading> history;  // the last checks' finite biases since the setting changed
  // [format tag 3, mode, fwd, bwd, strikes, checks, raise_bias, next_check, last_check, verify,
  // ref.fwd, ref.adj, n, (step, bias) x n] as doubles (exact for every value that can occur), for a
  // checkpoint's float64 array. unpack also reads formats 1 (six entries) and 2 (seven) of earlier
  // versions, which checked on fixed multiples of the interval (their next check: now), and
  // rejects anything else with an lpt::Error.
  std::vector<double> pack() const;
  static ControlState unpack(const std::vector<double>& v);
};
bool operator==(const ControlState& a, const ControlState& b);
inline bool operator!=(const ControlState& a, const ControlState& b) { return !(a == b); }

struct ControlDecision {
  enum class Kind { hold, raise, to_serial } kind = Kind::hold;
  long step = 0;
  ControlState before, after;
  // What prompted it: "" (hold), "level" (patience checks above eta), "trend" (the projection),
  // "verify" (a raise that did not help), "caps", "oracle" (the raise was refused).
  std::string trigger;
  // One line with the numbers, e.g.
  // "bias 0.15 <= eta 0.5; trend x31 over 50 steps projects 4.7 > eta at +50; fwd 2, bwd 1->2".
  std::string reason;
  const char* action_name() const;  // "hold" | "raise" | "serial"
};

struct CheckRequest {
  bool now = false;
  std::string why;  // "scheduled" or the alarm with its numbers
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

  // Asked after every layer-parallel step with that step's indicators: check now? True at the
  // scheduled step, or early when a solve's residual has grown alarm_growth-fold since the last
  // check (at least recheck steps after it). Never once serial.
  CheckRequest wants_check(long step, const SolveIndicators& x) const;

  // One check at training step `step`. Once serial it is a no-op hold (state unchanged): exact
  // gradients have nothing to control, and there is no way back (docs/controller.md).
  ControlDecision check(long step, const ControlMetrics& m);

  const ControlState& state() const { return state_; }
  void set_state(const ControlState& s);  // lpt::Error on negative counts
  const ControllerOptions& options() const { return options_; }

 private:
  // What each test of a check found (check() runs them in this order, then writes the reason).
  struct RaiseFinding {
    enum class Kind { none, verified, in_force } kind = Kind::none;  // which test of a raise ran
    bool failed = false;
    double prompted = 0;  // the bias that prompted the raise
  };
  struct LevelFinding {
    bool above = false;  // this check counts above eta
    bool fires = false;  // patience reached
  };
  struct TrendFinding {
    bool fires = false;
    double growth = 1, ahead = 0;  // the fit's growth over the window, its projection
    long span = 0;                 // steps the window covers
  };
  RaiseFinding judge_raise(double bias);
  LevelFinding count_level(double bias);
  TrendFinding follow_trend(long step, double bias);
  void format_reason(std::ostringstream& r, double bias, const RaiseFinding& raise,
                     const LevelFinding& level, const TrendFinding& trend) const;
  // Raise or switch after a trigger; returns the reason's continuation.
  std::string act(ControlDecision& d, double bias, bool failed_raise);

  ControllerOptions options_;
  ControlState state_;
  std::function<bool(int, int)> oracle_;
};

}  // namespace lpt::mgrit
