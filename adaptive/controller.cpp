#include "adaptive/controller.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <locale>
#include <sstream>

#include "util/error.hpp"

namespace lpt::mgrit {

const char* to_string(TrainMode m) {
  switch (m) {
    case TrainMode::serial:
      return "serial";
    case TrainMode::parallel:
      return "parallel";
    case TrainMode::serial_forward:
      return "serial_forward";
  }
  return "?";
}

TrainMode parse_train_mode(const std::string& s) {
  if (s == "serial") return TrainMode::serial;
  if (s == "parallel") return TrainMode::parallel;
  if (s == "serial_forward") return TrainMode::serial_forward;
  fail("unknown training mode '", s, "'; use serial, parallel or serial_forward");
}

const char* to_string(ControlAction a) {
  return a == ControlAction::raise_iterations ? "raise" : "serial";
}

ControlAction parse_control_action(const std::string& s) {
  if (s == "raise") return ControlAction::raise_iterations;
  if (s == "serial") return ControlAction::serial;
  fail("unknown control action '", s,
       "'; use raise (more MGRIT iterations, then serial) or serial");
}

const char* to_string(RaiseOrder o) {
  return o == RaiseOrder::backward_first ? "backward_first" : "both";
}

RaiseOrder parse_raise_order(const std::string& s) {
  if (s == "backward_first") return RaiseOrder::backward_first;
  if (s == "both") return RaiseOrder::both;
  fail("unknown raise order '", s, "'; use backward_first or both");
}

void ControllerOptions::set_eta(double eta) {
  // eta >= 1 would allow an error as large as the gradient itself, where ĝ need no longer be a
  // descent direction; eta <= 0 would demand an exact gradient, i.e. serial from the start.
  require(eta > 0 && eta < 1, "controller eta must be in (0, 1), got ", eta,
          "; 0.5 keeps the gradient cosine above 0.87");
  eta_ = eta;
}
void ControllerOptions::set_patience(int checks) {
  require(checks >= 1, "controller patience must be >= 1 check, got ", checks,
          "; 1 acts on the first check above eta");
  patience_ = checks;
}
void ControllerOptions::set_action(ControlAction a) { action_ = a; }
void ControllerOptions::set_raise_order(RaiseOrder o) { order_ = o; }
void ControllerOptions::set_iteration_step(int k) {
  require(k >= 1, "controller iteration step must be >= 1 iteration per raise, got ", k);
  iteration_step_ = k;
}
void ControllerOptions::set_max_iterations(int fwd, int bwd) {
  require(fwd >= 1 && bwd >= 1,
          "controller max iterations must be >= 1 for forward and backward, got ", fwd, " and ",
          bwd);
  max_fwd_ = fwd;
  max_bwd_ = bwd;
}
void ControllerOptions::set_check_every(long steps) {
  require(steps >= 1, "controller check interval must be >= 1 step, got ", steps);
  every_ = steps;
}
void ControllerOptions::set_trend(long horizon, int window, double growth, double floor) {
  require(horizon >= 0, "controller trend horizon must be >= 0 steps (0: off), got ", horizon);
  require(window >= 2, "controller trend window must be >= 2 checks (a line needs two), got ",
          window);
  require(window <= 64, "controller trend window must be <= 64 checks, got ", window);
  require(growth > 1 && std::isfinite(growth),
          "controller trend growth must be a finite factor > 1, got ", growth,
          "; 4 asks for a fourfold rise across the window");
  require(floor >= 0 && floor < 1, "controller trend floor must be in [0, 1), got ", floor);
  horizon_ = horizon;
  window_ = window;
  growth_ = growth;
  floor_ = floor;
}
void ControllerOptions::set_recheck(long steps, double gain) {
  require(steps >= 1, "controller recheck must be >= 1 step after a raise, got ", steps);
  require(gain > 0 && gain <= 1, "controller raise gain must be in (0, 1], got ", gain,
          "; 0.5 asks a raise to halve the bias");
  recheck_ = steps;
  gain_ = gain;
}
void ControllerOptions::set_alarm_growth(double factor) {
  require(factor == 0 || (factor > 1 && std::isfinite(factor)),
          "controller alarm growth must be 0 (off) or a finite factor > 1, got ", factor);
  alarm_ = factor;
}

namespace {

constexpr double pack_tag = 3;  // format of ControlState::pack; bump on any change
constexpr double max_exact = 9007199254740992.0;  // 2^53: larger doubles skip integers
constexpr std::size_t fixed_entries = 13;         // before the history pairs

bool integral_in(double x, double lo, double hi) {
  return std::isfinite(x) && x == std::floor(x) && x >= lo && x <= hi;
}

bool finite_nonneg(double x) { return std::isfinite(x) && x >= 0; }

// A stream for reasons: scripts parse them, so the classic locale, not the user's.
std::ostringstream reason_stream() {
  std::ostringstream r;
  r.imbue(std::locale::classic());
  r.precision(3);
  return r;
}

}  // namespace

std::vector<double> ControlState::pack() const {
  std::vector<double> v = {pack_tag,       double(int(mode)), double(fwd_iters),
                           double(bwd_iters), double(strikes),   double(checks),
                           raise_bias,     double(next_check), double(last_check),
                           verify ? 1.0 : 0.0, ref.fwd,     ref.adj,
                           double(history.size())};
  for (const BiasReading& r : history) {
    v.push_back(double(r.step));
    v.push_back(r.bias);
  }
  return v;
}

ControlState ControlState::unpack(const std::vector<double>& v) {
  const bool v1 = v.size() == 6 && v[0] == 1, v2 = v.size() == 7 && v[0] == 2;
  const bool v3 = v.size() >= fixed_entries && v[0] == pack_tag &&
                  integral_in(v[12], 0, 64) && v.size() == fixed_entries + 2 * std::size_t(v[12]);
  require(v1 || v2 || v3, "controller state in checkpoint has ", v.size(),
          " entries (format tag ", v.empty() ? std::string("none") : std::to_string(v[0]),
          "); expected format 3 (13 entries and the history), 2 or 1: the checkpoint was "
          "written by another lpt version");
  require(integral_in(v[1], 0, 2) && integral_in(v[2], 0, INT_MAX) &&
              integral_in(v[3], 0, INT_MAX) && integral_in(v[4], 0, INT_MAX) &&
              integral_in(v[5], 0, max_exact),
          "controller state in checkpoint is corrupt (mode, iterations, strikes or checks out of "
          "range); restart from another checkpoint");
  require(v1 || finite_nonneg(v[6]), "controller state in checkpoint is corrupt (raise bias ",
          v1 ? 0.0 : v[6], "); restart from another checkpoint");
  ControlState s;
  s.mode = TrainMode(int(v[1]));
  s.fwd_iters = int(v[2]);
  s.bwd_iters = int(v[3]);
  s.strikes = int(v[4]);
  s.checks = long(v[5]);
  s.raise_bias = v1 ? 0.0 : v[6];
  if (!v3) return s;  // formats 1 and 2: next_check 0 checks at the resumed step
  require(integral_in(v[7], 0, max_exact) && integral_in(v[8], -1, max_exact) &&
              (v[9] == 0 || v[9] == 1) && finite_nonneg(v[10]) && finite_nonneg(v[11]),
          "controller state in checkpoint is corrupt (next check, verify flag or residual "
          "references out of range); restart from another checkpoint");
  s.next_check = long(v[7]);
  s.last_check = long(v[8]);
  s.verify = v[9] == 1;
  s.ref = {v[10], v[11]};
  for (std::size_t i = fixed_entries; i < v.size(); i += 2) {
    require(integral_in(v[i], 0, max_exact) && std::isfinite(v[i + 1]) && v[i + 1] > 0,
            "controller state in checkpoint is corrupt (bias history); restart from another "
            "checkpoint");
    s.history.push_back({long(v[i]), v[i + 1]});
  }
  return s;
}

bool operator==(const ControlState& a, const ControlState& b) {
  auto same = [](const std::vector<BiasReading>& x, const std::vector<BiasReading>& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i].step != y[i].step || x[i].bias != y[i].bias) return false;
    return true;
  };
  return a.mode == b.mode && a.fwd_iters == b.fwd_iters && a.bwd_iters == b.bwd_iters &&
         a.strikes == b.strikes && a.checks == b.checks && a.raise_bias == b.raise_bias &&
         a.next_check == b.next_check && a.last_check == b.last_check && a.verify == b.verify && a.ref.fwd == b.ref.fwd &&
         a.ref.adj == b.ref.adj && same(a.history, b.history);
}

const char* ControlDecision::action_name() const {
  switch (kind) {
    case Kind::hold:
      return "hold";
    case Kind::raise:
      return "raise";
    case Kind::to_serial:
      return "serial";
  }
  return "?";
}

Controller::Controller(const ControllerOptions& o, ControlState initial) : options_(o) {
  set_state(initial);
}

void Controller::set_cost_oracle(std::function<bool(int fwd, int bwd)> f) {
  oracle_ = std::move(f);
}

void Controller::set_state(const ControlState& s) {
  require(s.fwd_iters >= 0 && s.bwd_iters >= 0 && s.strikes >= 0 && s.checks >= 0 &&
              s.next_check >= 0 && s.last_check >= -1,
          "controller state must have non-negative iterations, strikes, checks and next check, "
          "got fwd ", s.fwd_iters, ", bwd ", s.bwd_iters, ", strikes ", s.strikes, ", checks ",
          s.checks, ", next check ", s.next_check);
  require(finite_nonneg(s.raise_bias) && finite_nonneg(s.ref.fwd) && finite_nonneg(s.ref.adj),
          "controller state must have a finite raise_bias and residual references >= 0");
  state_ = s;
}

CheckRequest Controller::wants_check(long step, const SolveIndicators& x) const {
  CheckRequest q;
  if (state_.mode == TrainMode::serial) return q;
  if (step >= state_.next_check) {
    q.now = true;
    q.why = "scheduled";
    return q;
  }
  const double a = options_.alarm_growth();
  // Not in the first steps after a check: a residual that jumps for one batch would otherwise
  // buy a check every step; one early check per recheck interval is enough to catch a real rise.
  if (a <= 0 || state_.last_check < 0 || step < state_.last_check + options_.recheck_steps())
    return q;
  auto grew = [&](const char* name, double now, double ref) {
    if (q.now || !(ref > 0) || !(now >= a * ref)) return;  // NaN residuals fall to the check
    std::ostringstream r = reason_stream();
    r << name << " residual x" << now / ref << " since the last check (" << ref << " -> " << now
      << ", alarm x" << a << ")";
    q.now = true;
    q.why = r.str();
  };
  grew("adjoint", x.adj, state_.ref.adj);
  grew("forward", x.fwd, state_.ref.fwd);
  // A solve that stops producing finite residuals has diverged: check at once.
  if (!q.now && (!std::isfinite(x.fwd) || !std::isfinite(x.adj))) {
    q.now = true;
    q.why = "non-finite solve residual";
  }
  return q;
}

// The three tests of a check. Each updates its part of the state and returns what it found; the
// reason line is written from the findings afterwards (format_reason), so deciding and describing
// stay apart.
Controller::RaiseFinding Controller::judge_raise(double b) {
  ControlState& s = state_;
  RaiseFinding f;
  const bool finite = std::isfinite(b);
  // A raise is judged at the first check after it: it must have cut the bias by the gain. And
  // while it is in force, every later check must read less than the bias that prompted it: a
  // raised count can make MGRIT diverge some steps later (measured: backward 1 -> 2 on the
  // 32-layer GPT at h = 1/32 halved the error for 15 steps, then took it to 37x the gradient).
  if (s.verify) {
    s.verify = false;
    f.kind = RaiseFinding::Kind::verified;
    f.failed = !(finite && b <= options_.raise_gain() * s.raise_bias);
    f.prompted = s.raise_bias;
  } else if (s.raise_bias > 0 && !(finite && b < s.raise_bias)) {
    f.kind = RaiseFinding::Kind::in_force;
    f.failed = true;
    f.prompted = s.raise_bias;
  }
  return f;
}

Controller::LevelFinding Controller::count_level(double b) {
  ControlState& s = state_;
  LevelFinding f;
  // `patience` consecutive checks above eta. A NaN or inf ratio means the measurement broke down
  // (an error with a vanishing gradient, or a diverging solve); calling it "below eta" would let
  // exactly the worst case run on unchecked. It counts as a strike, not an immediate switch, so
  // one glitch alone does not end parallel training.
  f.above = !(std::isfinite(b) && b <= options_.eta());
  // Reset, not decay: the level rule asks for a bias that persists; one check below eta is
  // evidence that it does not yet, and a decaying count would add up spikes far apart.
  s.strikes = f.above ? s.strikes + 1 : 0;
  f.fires = f.above && s.strikes >= options_.patience();
  return f;
}

Controller::TrendFinding Controller::follow_trend(long step, double b) {
  ControlState& s = state_;
  TrendFinding f;
  const bool finite = std::isfinite(b);
  // The last checks' bias on a line in log space, projected to the horizon.
  if (finite && b > 0) {
    s.history.push_back({step, b});
    if (int(s.history.size()) > options_.trend_window()) s.history.erase(s.history.begin());
  }
  if (options_.trend_horizon() <= 0 || !finite ||
      int(s.history.size()) != options_.trend_window())
    return f;
  const BiasTrend t = fit_bias_trend(s.history);
  f.growth = t.growth;
  f.ahead = t.project(options_.trend_horizon());
  f.span = s.history.back().step - s.history.front().step;
  // Every reading above the one before: with the growth threshold this keeps estimation noise
  // from passing for a trend (docs/controller.md gives the false-trigger rates).
  bool rising = true;
  for (std::size_t i = 1; i < s.history.size(); ++i)
    rising = rising && s.history[i].bias > s.history[i - 1].bias;
  f.fires = t.valid && rising && t.growth >= options_.trend_growth() &&
            b >= options_.trend_floor() && f.ahead > options_.eta();
  return f;
}

void Controller::format_reason(std::ostringstream& r, double b, const RaiseFinding& raise,
                               const LevelFinding& level, const TrendFinding& trend) const {
  const double eta = options_.eta();
  r << "bias " << b;
  if (raise.kind == RaiseFinding::Kind::verified)
    r << (raise.failed ? " > " : " <= ") << options_.raise_gain() << " x " << raise.prompted
      << " before the raise";
  else if (raise.kind == RaiseFinding::Kind::in_force)
    r << " >= " << raise.prompted << " that prompted the last raise";
  if (!level.above)
    r << " <= eta " << eta << "; 0/" << options_.patience() << " checks above";
  else
    r << (std::isfinite(b) ? " > eta " : " (not finite) counts above eta ") << eta << " for "
      << state_.strikes << "/" << options_.patience() << " checks";
  if (trend.fires)
    r << "; trend x" << trend.growth << " over " << trend.span << " steps projects "
      << trend.ahead << " > eta " << eta << " at +" << options_.trend_horizon();
}

ControlDecision Controller::check(long step, const ControlMetrics& m) {
  ControlDecision d;
  d.step = step;
  d.before = state_;
  if (state_.mode == TrainMode::serial) {
    d.after = state_;
    d.reason = "serial: exact gradients, nothing to control";
    return d;
  }
  ControlState& s = state_;
  ++s.checks;
  s.last_check = step;
  s.ref = m.indicators;
  const double b = m.bias_ratio;
  const RaiseFinding raise = judge_raise(b);
  const LevelFinding level = count_level(b);
  const TrendFinding trend = follow_trend(step, b);
  std::ostringstream r = reason_stream();
  format_reason(r, b, raise, level, trend);
  if (raise.failed || level.fires || trend.fires) {
    d.trigger = raise.failed ? "verify" : level.fires ? "level" : "trend";
    r << act(d, b, raise.failed);
  } else {
    s.next_check = step + options_.check_every();
  }
  r << " (rel error " << m.rel_error << ", cosine " << m.cosine << ", bias/spread "
    << m.bias_vs_spread << ")";
  d.after = state_;
  d.reason = r.str();
  return d;
}

std::string Controller::act(ControlDecision& d, double b, bool failed_raise) {
  ControlState& s = state_;
  std::ostringstream r = reason_stream();
  // A fresh count for the new setting: strikes and trend describe the one they were measured with.
  s.strikes = 0;
  s.history.clear();
  const bool finite = std::isfinite(b);
  auto to_serial = [&](const char* why) {
    s.mode = TrainMode::serial;
    s.verify = false;
    d.kind = ControlDecision::Kind::to_serial;
    r << "; " << why << " -> serial";
    return r.str();
  };
  if (failed_raise) return to_serial("the last raise did not lower the bias enough");
  if (options_.action() == ControlAction::serial) return to_serial("action serial");
  const bool fwd_exact = s.mode == TrainMode::serial_forward;
  const int f = s.fwd_iters, k = s.bwd_iters;
  // long arithmetic: a large step must not overflow past the cap. max() keeps a setting already
  // above its cap where it is instead of lowering it.
  auto raised = [&](int it, int cap) {
    return int(std::max<long>(it, std::min<long>(cap, long(it) + options_.iteration_step())));
  };
  const int nb = raised(k, options_.max_backward_iterations());
  // Backward first: while the backward count trails the forward one and can still rise, the
  // raise goes to the backward solve alone (it carries the error at initialization).
  const bool bwd_only = fwd_exact || (options_.raise_order() == RaiseOrder::backward_first &&
                                      k < f && nb != k);
  const int nf = bwd_only ? f : raised(f, options_.max_forward_iterations());
  std::ostringstream change = reason_stream();
  if (fwd_exact)
    change << "bwd " << k << "->" << nb << " (forward exact)";
  else
    change << "fwd " << f << (nf != f ? "->" + std::to_string(nf) : "") << ", bwd " << k
           << (nb != k ? "->" + std::to_string(nb) : "");
  if (nf == f && nb == k) {
    r << "; iterations at caps (fwd " << f << "/" << options_.max_forward_iterations() << ", bwd "
      << k << "/" << options_.max_backward_iterations() << ")";
    d.trigger = "caps";
    return to_serial("nothing left to raise");
  }
  if (oracle_ && !oracle_(fwd_exact ? 0 : nf, nb)) {
    r << "; " << change.str();
    d.trigger = "oracle";
    return to_serial("predicted slower than serial");
  }
  s.fwd_iters = nf;
  s.bwd_iters = nb;
  s.raise_bias = finite ? b : std::numeric_limits<double>::max();
  s.verify = true;
  s.next_check = d.step + options_.recheck_steps();
  d.kind = ControlDecision::Kind::raise;
  r << "; " << change.str() << "; recheck at step " << s.next_check;
  return r.str();
}

}  // namespace lpt::mgrit
