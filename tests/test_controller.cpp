// The switching rule driven by synthetic metric streams: noise alone never triggers it, a bias that
// grows past eta as ||g|| shrinks does at the predicted step, patience is exact, raises climb to
// the caps and then switch to serial, and a checkpointed state resumes identically.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "adaptive/controller.hpp"
#include "util/error.hpp"

using namespace lpt::mgrit;
using Kind = ControlDecision::Kind;

namespace {

// Uniform in [0, 1) from the raw engine: mt19937_64's sequence is fixed by the standard.
struct Rng {
  std::mt19937_64 eng;
  explicit Rng(std::uint64_t seed) : eng(seed) {}
  double uniform() { return double(eng() >> 11) * 0x1.0p-53; }
};

ControlMetrics bias(double b) {
  ControlMetrics m;
  m.bias_ratio = b;
  return m;
}

// The level rule alone (tests/test_controller_trend.cpp has the trend, the alarm, the recheck
// and the raise order): no trend, raises to both counts, and a raise judged only by the next
// trigger (gain 1: any bias not above the one that prompted it passes the recheck).
ControllerOptions options(double eta, int patience,
                          ControlAction a = ControlAction::raise_iterations) {
  ControllerOptions o;
  o.set_eta(eta);
  o.set_patience(patience);
  o.set_action(a);
  o.set_trend(0, 3, 4, 0.01);
  o.set_raise_order(RaiseOrder::both);
  o.set_recheck(1, 1.0);
  o.set_alarm_growth(0);
  return o;
}

ControlState parallel(int fwd, int bwd, TrainMode mode = TrainMode::parallel) {
  ControlState s;
  s.mode = mode;
  s.fwd_iters = fwd;
  s.bwd_iters = bwd;
  return s;
}

// Feeds `value` until the controller acts; returns the decision that acted (kind hold if none
// within `limit` checks).
ControlDecision run_until_action(Controller& c, double value, long& step, int limit = 100) {
  for (int i = 0; i < limit; ++i) {
    ControlDecision d = c.check(step++, bias(value));
    if (d.kind != Kind::hold) return d;
  }
  return ControlDecision{};
}

}  // namespace

TEST(Controller, NoTriggerUnderNoiseAlone) {
  // Bias ratio mostly well below eta, with isolated spikes above it (5 %): the estimate's noise.
  // The stream is checked to contain spikes and runs of two, but no run of three, so the test is
  // about the controller and not about luck with the seed.
  Controller c(options(0.5, 3), parallel(2, 1));
  Rng rng(11);
  int spikes = 0, longest = 0, run = 0;
  for (long k = 0; k < 20000; ++k) {
    double b = 0.1 + 0.25 * rng.uniform();
    if (rng.uniform() < 0.05) b = 0.5 + 2.0 * rng.uniform();
    if (run == 2 && b > 0.5) b = 0.45;  // keep the stream below patience by construction
    run = b > 0.5 ? run + 1 : 0;
    spikes += b > 0.5;
    longest = std::max(longest, run);
    const ControlDecision d = c.check(k * 100, bias(b));
    ASSERT_EQ(d.kind, Kind::hold) << "acted at check " << k << ": " << d.reason;
    EXPECT_EQ(d.after.strikes, run);
  }
  EXPECT_GT(spikes, 500);
  EXPECT_EQ(longest, 2);
  EXPECT_EQ(c.state().mode, TrainMode::parallel);
  EXPECT_EQ(c.state().fwd_iters, 2);
  EXPECT_EQ(c.state().bwd_iters, 1);
  EXPECT_EQ(c.state().checks, 20000);
}

TEST(Controller, ActsExactlyWhenARunReachesPatience) {
  // Random streams against a direct count of consecutive checks above eta.
  for (int patience : {1, 2, 3, 5}) {
    ControllerOptions o = options(0.3, patience);
    o.set_max_iterations(1000000, 1000000);  // never reached: only raises here
    Controller c(o, parallel(2, 1));
    Rng rng(100 + patience);
    int run = 0, actions = 0;
    for (long k = 0; k < 5000; ++k) {
      const double b = rng.uniform() < 0.6 ? 0.6 * rng.uniform() : 0.31 + rng.uniform();
      run = b > 0.3 ? run + 1 : 0;
      const bool expect_act = run == patience;
      if (expect_act) run = 0;
      const ControlDecision d = c.check(k, bias(b));
      ASSERT_EQ(d.kind == Kind::raise, expect_act) << "patience " << patience << ", check " << k;
      actions += expect_act;
      // This test counts triggers; whether a raise helped is RaiseThatDoesNotHelpGoesSerial's.
      ControlState st = c.state();
      st.raise_bias = 0;
      st.verify = false;
      c.set_state(st);
    }
    EXPECT_GT(actions, 10);
  }
}

TEST(Controller, TriggersUnderGrowingBiasAtTheRightStep) {
  // A fixed MGRIT bias ||b|| = 0.02 against a gradient that decays as training nears a minimum:
  // the ratio ||b||/||g|| crosses eta and stays above; with patience 3 and a check every 50 steps
  // the action comes exactly two checks after the first one above eta.
  const double eta = 0.5, b = 0.02;
  Controller c(options(eta, 3), parallel(2, 1));
  long first_above = -1, acted = -1;
  for (long step = 0; step <= 20000 && acted < 0; step += 50) {
    const double g = std::exp(-double(step) / 2000.0);
    const double ratio = b / g;
    if (ratio > eta && first_above < 0) first_above = step;
    ControlMetrics m = bias(ratio);
    m.rel_error = 3 * ratio;
    m.cosine = 0.9;
    m.bias_vs_spread = 2;
    const ControlDecision d = c.check(step, m);
    if (d.kind != Kind::hold) {
      acted = step;
      EXPECT_EQ(d.kind, Kind::raise);
      EXPECT_EQ(d.step, step);
      EXPECT_EQ(d.after.fwd_iters, 3);
      EXPECT_EQ(d.after.bwd_iters, 2);
      EXPECT_EQ(d.after.strikes, 0);
      EXPECT_EQ(d.before.strikes, 2);
      EXPECT_NE(d.reason.find("> eta 0.5 for 3/3 checks; fwd 2->3, bwd 1->2"), std::string::npos)
          << d.reason;
      EXPECT_NE(d.reason.find("rel error"), std::string::npos) << d.reason;
    }
  }
  // ratio > 0.5 once g < 0.04, i.e. step > 2000 ln 25 ≈ 6438: first check above at 6450.
  EXPECT_EQ(first_above, 6450);
  EXPECT_EQ(acted, first_above + 2 * 50);
}

TEST(Controller, NoisyGrowingBiasTriggersSoonAfterCrossing) {
  // The same decay seen through a noisy estimate (±30 % multiplicative): acts within a few checks
  // of the noiseless ratio crossing eta, never long before it.
  const double eta = 0.5, b = 0.02;
  Controller c(options(eta, 3), parallel(2, 1));
  Rng rng(7);
  long acted = -1;
  for (long step = 0; step <= 20000 && acted < 0; step += 50) {
    const double ratio = b / std::exp(-double(step) / 2000.0) * (0.7 + 0.6 * rng.uniform());
    if (c.check(step, bias(ratio)).kind != Kind::hold) acted = step;
  }
  ASSERT_GT(acted, 0);
  // 0.5 / 1.3 ≤ b/g ≤ 0.5 / 0.7 brackets where the noisy ratio can sit above eta for 3 checks.
  EXPECT_GE(acted, long(2000 * std::log(25.0 / 1.3)));
  EXPECT_LE(acted, long(2000 * std::log(25.0 / 0.7)) + 3 * 50);
}

TEST(Controller, PatienceRespectedExactly) {
  Controller c(options(0.5, 3), parallel(2, 1));
  long step = 0;
  for (int round = 0; round < 10; ++round) {
    EXPECT_EQ(c.check(step++, bias(0.8)).after.strikes, 1);
    EXPECT_EQ(c.check(step++, bias(0.9)).after.strikes, 2);
    const ControlDecision dip = c.check(step++, bias(0.5));  // eta itself is not above
    EXPECT_EQ(dip.kind, Kind::hold);
    EXPECT_EQ(dip.after.strikes, 0);  // reset, not decayed
  }
  EXPECT_EQ(c.state().fwd_iters, 2);
  EXPECT_EQ(c.check(step++, bias(0.8)).kind, Kind::hold);
  EXPECT_EQ(c.check(step++, bias(0.8)).kind, Kind::hold);
  const ControlDecision d = c.check(step++, bias(0.8));
  EXPECT_EQ(d.kind, Kind::raise);
  EXPECT_STREQ(d.action_name(), "raise");
  EXPECT_EQ(c.state().checks, 33);
}

TEST(Controller, PatienceOneActsOnFirstCheckAbove) {
  Controller c(options(0.2, 1, ControlAction::serial), parallel(2, 1));
  EXPECT_EQ(c.check(0, bias(0.1)).kind, Kind::hold);
  const ControlDecision d = c.check(1, bias(0.21));
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_STREQ(d.action_name(), "serial");
}

TEST(Controller, RaiseSequenceUpToCapsThenSerial) {
  ControllerOptions o = options(0.5, 2);
  o.set_max_iterations(4, 3);
  Controller c(o, parallel(2, 1));
  long step = 0;
  std::vector<std::pair<int, int>> seen;
  ControlDecision d;
  // Each raise helps a little (the bias falls), so the caps are what end it.
  while ((d = run_until_action(c, 0.9 - 0.1 * double(seen.size()), step)).kind == Kind::raise)
    seen.emplace_back(d.after.fwd_iters, d.after.bwd_iters);
  const std::vector<std::pair<int, int>> want = {{3, 2}, {4, 3}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_EQ(d.after.mode, TrainMode::serial);
  EXPECT_EQ(d.after.fwd_iters, 4);  // the last setting stays on record
  EXPECT_NE(d.reason.find("caps"), std::string::npos) << d.reason;
  EXPECT_EQ(step, 6);  // two checks per action
  // Serial is final: further checks hold and change nothing, whatever they measure.
  const ControlState s = c.state();
  for (double b : {0.9, std::numeric_limits<double>::quiet_NaN(), 0.0, 5.0}) {
    const ControlDecision h = c.check(step++, bias(b));
    EXPECT_EQ(h.kind, Kind::hold);
    EXPECT_EQ(h.after, s);
  }
  EXPECT_EQ(c.state(), s);
}

TEST(Controller, RaiseThatDoesNotHelpGoesSerial) {
  ControllerOptions o = options(0.5, 2);
  Controller c(o, parallel(2, 1));
  long step = 0;
  ControlDecision d = run_until_action(c, 0.8, step);
  EXPECT_EQ(d.kind, Kind::raise);
  EXPECT_EQ(d.after.raise_bias, 0.8);
  // A lower bias after the raise: the raise helped, raise again.
  d = run_until_action(c, 0.7, step);
  EXPECT_EQ(d.kind, Kind::raise);
  EXPECT_EQ(d.after.fwd_iters, 4);
  // The recheck reads more bias than the one that prompted the last raise: MGRIT does not
  // converge at these settings, so more iterations are not tried (caps 8 are far).
  d = run_until_action(c, 1.3, step);
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_EQ(d.trigger, "verify");
  EXPECT_EQ(d.after.fwd_iters, 4);
  EXPECT_NE(d.reason.find("bias 1.3 > 1 x 0.7 before the raise"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("did not lower the bias enough -> serial"), std::string::npos)
      << d.reason;
  // A raise after a non-finite trigger is judged by the next trigger being finite.
  Controller n(o, parallel(2, 1));
  step = 0;
  EXPECT_EQ(run_until_action(n, std::numeric_limits<double>::infinity(), step).kind, Kind::raise);
  EXPECT_EQ(run_until_action(n, 5.0, step).kind, Kind::raise);
  EXPECT_EQ(run_until_action(n, std::numeric_limits<double>::quiet_NaN(), step).kind,
            Kind::to_serial);
}

TEST(Controller, RaiseClampsEachCountToItsCap) {
  ControllerOptions o = options(0.5, 1);
  o.set_iteration_step(2);
  o.set_max_iterations(5, 2);
  Controller c(o, parallel(2, 1));
  ControlDecision d = c.check(0, bias(1));
  EXPECT_EQ(d.kind, Kind::raise);
  EXPECT_EQ(d.after.fwd_iters, 4);
  EXPECT_EQ(d.after.bwd_iters, 2);
  d = c.check(1, bias(0.9));  // bwd already at its cap; fwd still rises
  EXPECT_EQ(d.kind, Kind::raise);
  EXPECT_EQ(d.after.fwd_iters, 5);
  EXPECT_EQ(d.after.bwd_iters, 2);
  d = c.check(2, bias(0.8));
  EXPECT_EQ(d.kind, Kind::to_serial);
}

TEST(Controller, StartAboveCapsGoesToSerialWithoutLowering) {
  ControllerOptions o = options(0.5, 1);
  o.set_max_iterations(2, 2);
  Controller c(o, parallel(6, 4));
  const ControlDecision d = c.check(0, bias(1));
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_EQ(d.after.fwd_iters, 6);
  EXPECT_EQ(d.after.bwd_iters, 4);
}

TEST(Controller, SerialActionGoesStraightToSerial) {
  Controller c(options(0.5, 3, ControlAction::serial), parallel(2, 1));
  long step = 0;
  const ControlDecision d = run_until_action(c, 0.7, step);
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_EQ(step, 3);
  EXPECT_EQ(d.after.mode, TrainMode::serial);
  EXPECT_EQ(d.after.fwd_iters, 2);
  EXPECT_EQ(d.after.bwd_iters, 1);
  EXPECT_EQ(d.after.strikes, 0);
  EXPECT_NE(d.reason.find("action serial -> serial"), std::string::npos) << d.reason;
}

TEST(Controller, SerialForwardRaisesOnlyBackward) {
  ControllerOptions o = options(0.5, 1);
  o.set_max_iterations(3, 3);
  Controller c(o, parallel(2, 1, TrainMode::serial_forward));
  ControlDecision d = c.check(0, bias(0.6));
  EXPECT_EQ(d.kind, Kind::raise);
  EXPECT_EQ(d.after.mode, TrainMode::serial_forward);
  EXPECT_EQ(d.after.fwd_iters, 2);
  EXPECT_EQ(d.after.bwd_iters, 2);
  EXPECT_NE(d.reason.find("bwd 1->2 (forward exact)"), std::string::npos) << d.reason;
  d = c.check(1, bias(0.58));
  EXPECT_EQ(d.after.bwd_iters, 3);
  d = c.check(2, bias(0.56));  // bwd at its cap; fwd below its cap does not count
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_EQ(d.after.fwd_iters, 2);
}

TEST(Controller, CostOracleForcesSerial) {
  ControllerOptions o = options(0.5, 1);
  Controller c(o, parallel(2, 1));
  std::vector<std::pair<int, int>> asked;
  // Parallel beats serial up to 5 iterations in total.
  c.set_cost_oracle([&](int f, int b) {
    asked.emplace_back(f, b);
    return f + b <= 5;
  });
  ControlDecision d = c.check(0, bias(0.7));
  EXPECT_EQ(d.kind, Kind::raise);  // (3, 2): still faster
  d = c.check(1, bias(0.65));      // (4, 3) would be slower
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_EQ(d.after.fwd_iters, 3);  // not raised: the raise was rejected
  EXPECT_NE(d.reason.find("predicted slower than serial"), std::string::npos) << d.reason;
  const std::vector<std::pair<int, int>> want = {{3, 2}, {4, 3}};
  EXPECT_EQ(asked, want);

  // In serial_forward the oracle is asked with fwd = 0 (exact forward).
  Controller sf(o, parallel(2, 1, TrainMode::serial_forward));
  asked.clear();
  sf.set_cost_oracle([&](int f, int b) {
    asked.emplace_back(f, b);
    return true;
  });
  EXPECT_EQ(sf.check(0, bias(0.7)).kind, Kind::raise);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], std::make_pair(0, 2));

  // Not asked on holds, nor when the caps already decide; an empty oracle clears it.
  ControllerOptions capped = options(0.5, 1);
  capped.set_max_iterations(2, 1);
  Controller at_caps(capped, parallel(2, 1));
  int calls = 0;
  at_caps.set_cost_oracle([&](int, int) {
    ++calls;
    return true;
  });
  at_caps.check(0, bias(0.1));
  EXPECT_EQ(at_caps.check(1, bias(0.7)).kind, Kind::to_serial);
  EXPECT_EQ(calls, 0);
  Controller cleared(o, parallel(2, 1));
  cleared.set_cost_oracle([](int, int) { return false; });
  cleared.set_cost_oracle(nullptr);
  EXPECT_EQ(cleared.check(0, bias(0.7)).kind, Kind::raise);
}

TEST(Controller, NonFiniteBiasCountsAsAboveEta) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Controller c(options(0.5, 3), parallel(2, 1));
  EXPECT_EQ(c.check(0, bias(nan)).after.strikes, 1);
  EXPECT_EQ(c.check(1, bias(inf)).after.strikes, 2);
  const ControlDecision d = c.check(2, bias(nan));
  EXPECT_EQ(d.kind, Kind::raise);
  EXPECT_NE(d.reason.find("not finite"), std::string::npos) << d.reason;
}

TEST(Controller, HoldReasonsCarryTheNumbers) {
  Controller c(options(0.5, 3), parallel(2, 1));
  ControlMetrics m;
  m.bias_ratio = 0.25;
  m.rel_error = 0.75;
  m.cosine = 0.875;
  m.bias_vs_spread = 0.125;
  EXPECT_EQ(c.check(10, m).reason,
            "bias 0.25 <= eta 0.5; 0/3 checks above (rel error 0.75, cosine 0.875, bias/spread "
            "0.125)");
  m.bias_ratio = 0.625;
  EXPECT_EQ(
      c.check(20, m).reason,
      "bias 0.625 > eta 0.5 for 1/3 checks (rel error 0.75, cosine 0.875, bias/spread 0.125)");
  EXPECT_EQ(c.check(30, m).reason.find('\n'), std::string::npos);
}

TEST(Controller, StatePackUnpackRoundTrip) {
  ControlState s = parallel(5, 3, TrainMode::serial_forward);
  s.strikes = 2;
  s.checks = 123456789012L;
  EXPECT_EQ(ControlState::unpack(s.pack()), s);
  for (TrainMode m : {TrainMode::serial, TrainMode::parallel, TrainMode::serial_forward}) {
    ControlState t;
    t.mode = m;
    EXPECT_EQ(ControlState::unpack(t.pack()), t);
  }
}

TEST(Controller, ResumeFromPackedStateIsIdentical) {
  // A run checkpointed halfway continues exactly as the uninterrupted one.
  ControllerOptions o = options(0.4, 3);
  o.set_max_iterations(6, 5);
  Rng rng(5);
  std::vector<double> stream(400);
  for (auto& b : stream) b = 0.6 * rng.uniform() + 0.002 * double(&b - stream.data()) / 4;
  Controller whole(o, parallel(2, 1));
  std::vector<ControlDecision> ref;
  for (std::size_t k = 0; k < stream.size(); ++k)
    ref.push_back(whole.check(long(k), bias(stream[k])));

  // Checkpoint right after the first action, so that the resumed half must decide the next one
  // from the restored state (strikes, iterations and the bias of the raise).
  std::size_t split = 0;
  while (split < ref.size() && ref[split].kind == Kind::hold) ++split;
  ASSERT_LT(split, ref.size()) << "the stream never makes the controller act";
  ++split;
  int after = 0;
  for (std::size_t k = split; k < ref.size(); ++k) after += ref[k].kind != Kind::hold;
  EXPECT_GE(after, 1) << "the stream must make it act again after the checkpoint";

  Controller first(o, parallel(2, 1));
  for (std::size_t k = 0; k < split; ++k) first.check(long(k), bias(stream[k]));
  const std::vector<double> saved = first.state().pack();
  Controller resumed(o, ControlState::unpack(saved));
  for (std::size_t k = split; k < stream.size(); ++k) {
    const ControlDecision d = resumed.check(long(k), bias(stream[k]));
    ASSERT_EQ(d.kind, ref[k].kind) << k;
    ASSERT_EQ(d.after, ref[k].after) << k;
    ASSERT_EQ(d.reason, ref[k].reason) << k;
  }

  Controller reset(o, parallel(2, 1));
  reset.set_state(ControlState::unpack(saved));
  EXPECT_EQ(reset.state(), first.state());
}

TEST(Controller, UnpackRejectsForeignVectors) {
  const std::vector<double> good = parallel(2, 1).pack();
  EXPECT_THROW(ControlState::unpack({}), lpt::Error);
  EXPECT_THROW(ControlState::unpack({1, 1, 2, 1, 0}), lpt::Error);       // short
  EXPECT_THROW(ControlState::unpack({3, 1, 2, 1, 0, 0, 0}), lpt::Error);  // other format
  EXPECT_THROW(ControlState::unpack({2, 1, 2, 1, 0, 0}), lpt::Error);     // format 2 is 7 long
  EXPECT_THROW(ControlState::unpack({1, 3, 2, 1, 0, 0}), lpt::Error);    // no such mode
  EXPECT_THROW(ControlState::unpack({1, 1, 2.5, 1, 0, 0}), lpt::Error);  // not an integer
  EXPECT_THROW(ControlState::unpack({1, 1, 2, -1, 0, 0}), lpt::Error);   // negative
  EXPECT_THROW(ControlState::unpack({1, 1, 2, 1, 0, std::nan("")}), lpt::Error);
  EXPECT_THROW(ControlState::unpack({2, 1, 2, 1, 0, 0, -0.5}), lpt::Error);  // negative bias
  EXPECT_NO_THROW(ControlState::unpack(good));
  // Format 1 (before raise_bias was kept) still reads, with no raise recorded.
  EXPECT_EQ(ControlState::unpack({1, 1, 3, 2, 1, 7}).raise_bias, 0.0);
  EXPECT_EQ(ControlState::unpack({1, 1, 3, 2, 1, 7}).fwd_iters, 3);
  try {
    ControlState::unpack({});
  } catch (const lpt::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("controller state in checkpoint has 0 entries (format "
                                          "tag none)",
                                          0),
              0u)
        << e.what();
  }
}

TEST(Controller, InvalidStateRejected) {
  ControlState s;
  s.bwd_iters = -1;
  EXPECT_THROW(Controller(ControllerOptions{}, s), lpt::Error);
  Controller c(ControllerOptions{}, ControlState{});
  s = ControlState{};
  s.strikes = -2;
  EXPECT_THROW(c.set_state(s), lpt::Error);
  EXPECT_EQ(c.state(), ControlState{});
}

TEST(ControllerOptions, DefaultsAndValidation) {
  ControllerOptions o;
  EXPECT_EQ(o.eta(), 0.5);
  EXPECT_EQ(o.patience(), 3);
  EXPECT_EQ(o.action(), ControlAction::serial);
  EXPECT_EQ(o.iteration_step(), 1);
  EXPECT_EQ(o.max_forward_iterations(), 8);
  EXPECT_EQ(o.max_backward_iterations(), 8);

  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const lpt::Error& e) {
      return e.what();
    }
    return "";
  };
  for (double eta : {0.0, 1.0, -0.1, 1.5, std::nan("")})
    EXPECT_NE(message([&] { o.set_eta(eta); }).find("eta"), std::string::npos) << eta;
  EXPECT_NE(message([&] { o.set_patience(0); }).find("patience"), std::string::npos);
  EXPECT_NE(message([&] { o.set_iteration_step(0); }).find("iteration step"), std::string::npos);
  EXPECT_NE(message([&] { o.set_max_iterations(0, 3); }).find("max iterations"), std::string::npos);
  EXPECT_NE(message([&] { o.set_max_iterations(3, 0); }).find("max iterations"), std::string::npos);
  // A failed setter leaves the option as it was.
  EXPECT_EQ(o.eta(), 0.5);
  EXPECT_EQ(o.patience(), 3);
  EXPECT_EQ(o.max_forward_iterations(), 8);

  o.set_eta(0.25);
  o.set_patience(1);
  o.set_iteration_step(4);
  o.set_max_iterations(10, 6);
  o.set_action(ControlAction::raise_iterations);
  EXPECT_EQ(o.eta(), 0.25);
  EXPECT_EQ(o.patience(), 1);
  EXPECT_EQ(o.iteration_step(), 4);
  EXPECT_EQ(o.max_forward_iterations(), 10);
  EXPECT_EQ(o.max_backward_iterations(), 6);
  EXPECT_EQ(o.action(), ControlAction::raise_iterations);
}

TEST(ControllerOptions, NamesRoundTrip) {
  for (ControlAction a : {ControlAction::raise_iterations, ControlAction::serial})
    EXPECT_EQ(parse_control_action(to_string(a)), a);
  EXPECT_STREQ(to_string(ControlAction::raise_iterations), "raise");
  EXPECT_THROW(parse_control_action("Raise"), lpt::Error);
  EXPECT_THROW(parse_control_action(""), lpt::Error);
  for (TrainMode m : {TrainMode::serial, TrainMode::parallel, TrainMode::serial_forward})
    EXPECT_EQ(parse_train_mode(to_string(m)), m);
  EXPECT_STREQ(to_string(TrainMode::serial_forward), "serial_forward");
  EXPECT_THROW(parse_train_mode("adaptive"), lpt::Error);  // adaptive = parallel + a controller
  ControlDecision d;
  EXPECT_STREQ(d.action_name(), "hold");
}
