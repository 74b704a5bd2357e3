#include "solver/controller.hpp"

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

namespace {

constexpr double pack_tag = 2;  // format of ControlState::pack; bump on any change
constexpr double max_exact = 9007199254740992.0;  // 2^53: larger doubles skip integers

bool integral_in(double x, double lo, double hi) {
  return std::isfinite(x) && x == std::floor(x) && x >= lo && x <= hi;
}

}  // namespace

std::vector<double> ControlState::pack() const {
  return {pack_tag,        double(int(mode)), double(fwd_iters), double(bwd_iters),
          double(strikes), double(checks),    raise_bias};
}

ControlState ControlState::unpack(const std::vector<double>& v) {
  const bool v1 = v.size() == 6 && v[0] == 1, v2 = v.size() == 7 && v[0] == pack_tag;
  require(v1 || v2, "controller state in checkpoint has ", v.size(),
          " entries (format tag ", v.empty() ? std::string("none") : std::to_string(v[0]),
          "); expected 7 entries with tag 2 (or 6 with tag 1): the checkpoint was written by "
          "another lpt version");
  require(v1 || (std::isfinite(v[6]) && v[6] >= 0),
          "controller state in checkpoint is corrupt (raise bias ", v1 ? 0.0 : v[6],
          "); restart from another checkpoint");
  require(integral_in(v[1], 0, 2) && integral_in(v[2], 0, INT_MAX) &&
              integral_in(v[3], 0, INT_MAX) && integral_in(v[4], 0, INT_MAX) &&
              integral_in(v[5], 0, max_exact),
          "controller state in checkpoint is corrupt (mode, iterations, strikes or checks out of "
          "range); restart from another checkpoint");
  ControlState s;
  s.mode = TrainMode(int(v[1]));
  s.fwd_iters = int(v[2]);
  s.bwd_iters = int(v[3]);
  s.strikes = int(v[4]);
  s.checks = long(v[5]);
  s.raise_bias = v1 ? 0.0 : v[6];
  return s;
}

bool operator==(const ControlState& a, const ControlState& b) {
  return a.mode == b.mode && a.fwd_iters == b.fwd_iters && a.bwd_iters == b.bwd_iters &&
         a.strikes == b.strikes && a.checks == b.checks && a.raise_bias == b.raise_bias;
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
  require(s.fwd_iters >= 0 && s.bwd_iters >= 0 && s.strikes >= 0 && s.checks >= 0,
          "controller state must have non-negative iterations, strikes and checks, got fwd ",
          s.fwd_iters, ", bwd ", s.bwd_iters, ", strikes ", s.strikes, ", checks ", s.checks);
  require(std::isfinite(s.raise_bias) && s.raise_bias >= 0,
          "controller state must have a finite raise_bias >= 0, got ", s.raise_bias);
  state_ = s;
}

ControlDecision Controller::check(long step, const ControlMetrics& m) {
  ControlDecision d;
  d.step = step;
  d.before = state_;
  // The classic locale: a reason is parsed by scripts and must not depend on the user's.
  std::ostringstream r;
  r.imbue(std::locale::classic());
  r.precision(3);
  if (state_.mode == TrainMode::serial) {
    d.after = state_;
    d.reason = "serial: exact gradients, nothing to control";
    return d;
  }
  ++state_.checks;
  const double eta = options_.eta();
  const int patience = options_.patience();
  // A NaN or inf ratio means the measurement broke down (an error with a vanishing gradient, or a
  // diverging solve); calling it "below eta" would let exactly the worst case run on unchecked.
  // It counts as a strike, not an immediate switch, so one glitch alone does not end parallel.
  const bool finite = std::isfinite(m.bias_ratio);
  const bool above = !(finite && m.bias_ratio <= eta);
  r << "bias " << m.bias_ratio;
  if (!above) {
    // Reset, not decay: the rule asks for a bias that persists; one check below eta is evidence
    // that it does not yet, and a decaying count would let spikes far apart add up to a trigger.
    state_.strikes = 0;
    r << " <= eta " << eta << "; 0/" << patience << " checks above";
  } else {
    ++state_.strikes;
    r << (finite ? " > eta " : " (not finite) counts above eta ") << eta << " for "
      << state_.strikes << "/" << patience << " checks";
  }

  if (above && state_.strikes >= patience) {
    state_.strikes = 0;  // a fresh count for the new setting: its bias is not yet measured
    auto to_serial = [&](const char* why) {
      state_.mode = TrainMode::serial;
      d.kind = ControlDecision::Kind::to_serial;
      r << "; " << why << " -> serial";
    };
    if (options_.action() == ControlAction::serial) {
      to_serial("action serial");
    } else {
      const bool fwd_exact = state_.mode == TrainMode::serial_forward;
      const int f = state_.fwd_iters, b = state_.bwd_iters;
      // long arithmetic: a large step must not overflow past the cap. max() keeps a setting
      // already above its cap where it is instead of lowering it.
      auto raised = [&](int it, int cap) {
        return int(std::max<long>(it, std::min<long>(cap, long(it) + options_.iteration_step())));
      };
      const int nf = fwd_exact ? f : raised(f, options_.max_forward_iterations());
      const int nb = raised(b, options_.max_backward_iterations());
      std::ostringstream change;
      change.imbue(std::locale::classic());
      if (fwd_exact)
        change << "bwd " << b << "->" << nb << " (forward exact)";
      else
        change << "fwd " << f << "->" << nf << ", bwd " << b << "->" << nb;
      // A raise is a bet that more cycles shrink the error. When the trigger after it reads a
      // bias at least as large as the one that prompted it, the bet failed: MGRIT is not
      // converging at these settings (e.g. an unstable coarse step makes early iterates grow
      // before the N/m-th is exact), so further raises would only cost more for no gain.
      const bool failed = state_.raise_bias > 0 && !(finite && m.bias_ratio < state_.raise_bias);
      if (failed) {
        r << "; the last raise did not lower the bias (" << m.bias_ratio << " >= "
          << state_.raise_bias << ")";
        to_serial("raising does not help");
      } else if (nf == f && nb == b) {
        r << "; iterations at caps (fwd " << f << "/" << options_.max_forward_iterations()
          << ", bwd " << b << "/" << options_.max_backward_iterations() << ")";
        to_serial("nothing left to raise");
      } else if (oracle_ && !oracle_(fwd_exact ? 0 : nf, nb)) {
        r << "; " << change.str();
        to_serial("predicted slower than serial");
      } else {
        state_.fwd_iters = nf;
        state_.bwd_iters = nb;
        state_.raise_bias = finite ? m.bias_ratio : std::numeric_limits<double>::max();
        d.kind = ControlDecision::Kind::raise;
        r << "; " << change.str();
      }
    }
  }
  r << " (rel error " << m.rel_error << ", cosine " << m.cosine << ", bias/spread "
    << m.bias_vs_spread << ")";
  d.after = state_;
  d.reason = r.str();
  return d;
}

}  // namespace lpt::mgrit
