// The parts of the switching rule that act before the bias reaches eta (docs/controller.md): the
// trend trigger on synthetic streams (a rising bias under eta must trigger, estimation noise must
// not), the recheck that judges a raise, the backward-first raise order, the residual alarm that
// brings a check forward, and a resume in the middle of a decision.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "adaptive/bias_trend.hpp"
#include "adaptive/controller.hpp"
#include "util/error.hpp"

using namespace lpt::mgrit;
using Kind = ControlDecision::Kind;

namespace {

ControlMetrics bias(double b, SolveIndicators x = {}) {
  ControlMetrics m;
  m.bias_ratio = b;
  m.indicators = x;
  return m;
}

ControlState start(int fwd = 2, int bwd = 1) {
  ControlState s;
  s.fwd_iters = fwd;
  s.bwd_iters = bwd;
  return s;
}

// The default rule with action raise: most of these tests follow a raise and what comes after it
// (with the default action serial every trigger simply ends parallel training).
ControllerOptions defaults(long every = 25) {
  ControllerOptions o;
  o.set_check_every(every);
  o.set_action(ControlAction::raise_iterations);
  return o;
}

// Log-normal estimation noise around a level: what a bias estimate from a few batches scatters.
struct Noise {
  std::mt19937_64 eng;
  std::normal_distribution<double> n{0.0, 1.0};
  explicit Noise(std::uint64_t seed) : eng(seed) {}
  double around(double level, double sigma) { return level * std::exp(sigma * n(eng)); }
};

}  // namespace

TEST(BiasTrend, FitsAnExponentialExactly) {
  std::vector<BiasReading> r;
  for (long s : {100, 125, 150, 175}) r.push_back({s, 0.01 * std::exp(0.04 * double(s - 100))});
  const BiasTrend t = fit_bias_trend(r);
  ASSERT_TRUE(t.valid);
  EXPECT_NEAR(t.slope, 0.04, 1e-12);
  EXPECT_NEAR(t.growth, std::exp(0.04 * 75), 1e-9);
  EXPECT_NEAR(t.fitted, 0.01 * std::exp(0.04 * 75), 1e-12);
  EXPECT_NEAR(t.project(50), 0.01 * std::exp(0.04 * 125), 1e-10);
  // One reading, or readings at one step, give no line.
  EXPECT_FALSE(fit_bias_trend({{5, 0.2}}).valid);
  EXPECT_FALSE(fit_bias_trend({{5, 0.2}, {5, 0.4}}).valid);
  EXPECT_NEAR(fit_bias_trend({{5, 0.2}, {5, 0.8}}).fitted, 0.4, 1e-12);
}

TEST(ControllerTrend, MeasuredGptStreamTriggersBeforeTheJump) {
  // The bias of the 32-layer GPT at h = 1/32 (bias_gpt32_small, seed 1, checks every 25 steps):
  // under eta until step 100, then 0.78 at step 125. The trend acts at step 75, two checks before
  // the level rule could even see a reading above eta.
  const std::vector<double> measured = {0.0249, 0.000314, 0.00482, 0.0141, 0.151, 0.776};
  Controller c(defaults(), start());
  long acted = -1;
  ControlDecision d;
  for (std::size_t k = 0; k < measured.size() && acted < 0; ++k) {
    const long step = long(k) * 25;
    ASSERT_TRUE(c.wants_check(step, {}).now) << step;
    d = c.check(step, bias(measured[k]));
    if (d.kind != Kind::hold) acted = step;
  }
  EXPECT_EQ(acted, 75);
  EXPECT_EQ(d.trigger, "trend");
  EXPECT_EQ(d.kind, Kind::raise);
  EXPECT_EQ(d.after.fwd_iters, 2);  // backward first
  EXPECT_EQ(d.after.bwd_iters, 2);
  EXPECT_NE(d.reason.find("trend x"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("fwd 2, bwd 1->2; recheck at step 80"), std::string::npos) << d.reason;
  // With the default action the same check ends parallel training.
  ControllerOptions plain;
  plain.set_check_every(25);
  Controller s(plain, start());
  for (std::size_t k = 0; k < 4; ++k) d = s.check(long(k) * 25, bias(measured[k]));
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_EQ(d.trigger, "trend");
  EXPECT_NE(d.reason.find("action serial -> serial"), std::string::npos) << d.reason;
}

TEST(ControllerTrend, SlowlyRisingBiasUnderEtaTriggersBeforeCrossing) {
  // A bias doubling every check (every 25 steps) from 0.002: it would cross eta 0.5 at the ninth
  // check; the trend must act while the reading is still under eta.
  for (double rate : {2.0, 2.5, 4.0}) {
    Controller c(defaults(), start());
    double b = 0.002;
    long step = 0;
    ControlDecision d;
    while ((d = c.check(step, bias(b))).kind == Kind::hold && b < 10) {
      step += 25;
      b *= rate;
    }
    EXPECT_EQ(d.trigger, "trend") << rate;
    EXPECT_LT(b, 0.5) << "acted only at bias " << b << " (rate " << rate << ")";
    EXPECT_GE(b, 0.01) << "the floor keeps tiny biases from counting";
  }
  // Growing too slowly for the growth threshold (x1.5 per check): the level rule acts instead,
  // after the crossing.
  Controller slow(defaults(), start());
  double b = 0.05;
  long step = 0;
  ControlDecision d;
  while ((d = slow.check(step, bias(b))).kind == Kind::hold) {
    step += 25;
    b *= 1.5;
  }
  EXPECT_EQ(d.trigger, "level");
}

TEST(ControllerTrend, EstimationNoiseRarelyPassesForATrend) {
  // Log-normal noise (sigma 0.3) around levels under eta, no trend: the monotone-rise and growth
  // guards keep false triggers near the simulated rate in docs/controller.md (< 0.1 % of checks).
  // Without the guards (growth 1.01) the same streams trigger far more often, so this test
  // measures the guard and not the stream.
  for (double level : {0.05, 0.15, 0.3}) {
    auto triggers = [&](double growth) {
      ControllerOptions o = defaults();
      o.set_trend(50, 3, growth, 0.01);
      o.set_patience(1000000);  // the level rule is not under test
      Noise noise(17);
      int n = 0;
      Controller c(o, start());
      for (long k = 0; k < 20000; ++k) {
        const ControlDecision d = c.check(k * 25, bias(noise.around(level, 0.3)));
        if (d.kind != Kind::hold) {
          ++n;
          c.set_state(start());  // count triggers, not their consequences
        }
      }
      return n;
    };
    const int guarded = triggers(4.0), bare = triggers(1.01);
    EXPECT_LT(guarded, 20) << "level " << level;  // < 0.1 % of 20000 checks
    if (level >= 0.15) {
      EXPECT_GT(bare, 10 * std::max(guarded, 1)) << "level " << level;
    }
  }
}

TEST(ControllerTrend, RaiseIsJudgedAtTheRecheck) {
  ControllerOptions o = defaults();
  o.set_recheck(5, 0.5);
  Controller c(o, start());
  for (double b : {0.01, 0.04}) c.check(long(c.state().checks) * 25, bias(b));
  ControlDecision d = c.check(50, bias(0.16));  // x4 per check: trend
  ASSERT_EQ(d.kind, Kind::raise);
  EXPECT_EQ(d.after.next_check, 55);
  EXPECT_TRUE(d.after.verify);
  EXPECT_FALSE(c.wants_check(54, {}).now);
  EXPECT_TRUE(c.wants_check(55, {}).now);
  // Halved: the raise helped; back to the regular interval, and the trend starts afresh.
  d = c.check(55, bias(0.08));
  EXPECT_EQ(d.kind, Kind::hold);
  EXPECT_FALSE(d.after.verify);
  EXPECT_EQ(d.after.next_check, 80);
  EXPECT_EQ(d.after.history.size(), 1u);
  EXPECT_NE(d.reason.find("0.08 <= 0.5 x 0.16 before the raise"), std::string::npos) << d.reason;

  // Not halved: serial at the recheck, without waiting for more strikes.
  Controller n(o, start());
  for (double b : {0.01, 0.04}) n.check(long(n.state().checks) * 25, bias(b));
  ASSERT_EQ(n.check(50, bias(0.16)).kind, Kind::raise);
  d = n.check(55, bias(0.1));
  EXPECT_EQ(d.kind, Kind::to_serial);
  EXPECT_EQ(d.trigger, "verify");
  EXPECT_NE(d.reason.find("0.1 > 0.5 x 0.16 before the raise"), std::string::npos) << d.reason;
  EXPECT_FALSE(n.wants_check(1000, {}).now);  // serial: nothing to check
}

TEST(ControllerTrend, BackwardFirstThenBoth) {
  ControllerOptions o = defaults();
  o.set_trend(0, 3, 4, 0.01);  // level rule: one trigger per check above eta
  o.set_patience(1);
  o.set_recheck(1, 1.0);
  Controller c(o, start(2, 1));
  std::vector<std::pair<int, int>> seen;
  double b = 0.9;
  for (long step = 0; step < 10 && c.state().mode != TrainMode::serial; ++step) {
    const ControlDecision d = c.check(step, bias(b));
    b *= 0.95;  // each raise helps a little
    if (d.kind == Kind::raise) seen.emplace_back(d.after.fwd_iters, d.after.bwd_iters);
  }
  const std::vector<std::pair<int, int>> want = {{2, 2}, {3, 3}, {4, 4}, {5, 5}};
  ASSERT_GE(seen.size(), want.size());
  seen.resize(want.size());
  EXPECT_EQ(seen, want);
  // "both" raises both from the start; a backward count at its cap lets the forward one rise.
  o.set_raise_order(RaiseOrder::both);
  Controller both(o, start(2, 1));
  const ControlDecision d = both.check(0, bias(0.9));
  EXPECT_EQ(d.after.fwd_iters, 3);
  EXPECT_EQ(d.after.bwd_iters, 2);
  ControllerOptions capped = defaults();
  capped.set_patience(1);
  capped.set_max_iterations(8, 1);
  Controller bc(capped, start(2, 1));
  EXPECT_EQ(bc.check(0, bias(0.9)).after.fwd_iters, 3);
}

TEST(ControllerTrend, ResidualAlarmBringsTheCheckForward) {
  Controller c(defaults(), start());
  EXPECT_TRUE(c.wants_check(0, {}).now);  // the first check is scheduled at step 0
  c.check(0, bias(0.01, {1e-5, 1e-3}));
  EXPECT_EQ(c.state().next_check, 25);
  EXPECT_FALSE(c.wants_check(3, {1e-3, 1e-1}).now) << "within the recheck interval";
  EXPECT_FALSE(c.wants_check(10, {5e-5, 5e-3}).now) << "x5 is under the alarm";
  const CheckRequest q = c.wants_check(10, {5e-5, 1.2e-2});
  EXPECT_TRUE(q.now);
  EXPECT_NE(q.why.find("adjoint residual x12"), std::string::npos) << q.why;
  EXPECT_TRUE(c.wants_check(10, {2e-4, 1e-3}).now) << "the forward solve alarms too";
  EXPECT_TRUE(c.wants_check(10, {std::numeric_limits<double>::quiet_NaN(), 1e-3}).now);
  // The check resets the reference: the same residual no longer alarms.
  c.check(10, bias(0.02, {5e-5, 1.2e-2}));
  EXPECT_FALSE(c.wants_check(20, {5e-5, 1.2e-2}).now);
  EXPECT_EQ(c.state().next_check, 35);
  // Off: only the schedule.
  ControllerOptions off = defaults();
  off.set_alarm_growth(0);
  Controller quiet(off, start());
  quiet.check(0, bias(0.01, {1e-5, 1e-3}));
  EXPECT_FALSE(quiet.wants_check(10, {1.0, 1.0}).now);
  EXPECT_TRUE(quiet.wants_check(25, {}).now);
}

TEST(ControllerTrend, ResumeMidDecisionIsIdentical) {
  // A stream with a trend trigger, a recheck that passes, more growth, a second raise whose
  // recheck fails: checkpointed right after each decision point, the resumed controller makes the
  // same decisions, schedules the same checks and answers the alarm alike.
  std::vector<double> b = {0.02, 0.001, 0.004, 0.016, 0.064, 0.03, 0.06, 0.12, 0.3, 0.29};
  std::vector<SolveIndicators> x;
  for (std::size_t k = 0; k < b.size(); ++k) x.push_back({1e-5 * double(k + 1), 1e-3 * b[k]});
  auto drive = [&](Controller& c, long& step, std::size_t& k, std::vector<ControlDecision>& out,
                   std::size_t stop) {
    for (; k < stop && c.state().mode != TrainMode::serial; ++step) {
      if (!c.wants_check(step, x[k]).now) continue;
      out.push_back(c.check(step, bias(b[k], x[k])));
      ++k;
    }
  };
  std::vector<ControlDecision> ref;
  {
    Controller whole(defaults(), start());
    long step = 0;
    std::size_t k = 0;
    drive(whole, step, k, ref, b.size());
  }
  int acts = 0;
  for (const auto& d : ref) acts += d.kind != Kind::hold;
  ASSERT_GE(acts, 2) << "the stream must make the controller act twice";
  for (std::size_t split = 1; split < b.size(); ++split) {
    Controller first(defaults(), start());
    long step = 0;
    std::size_t k = 0;
    std::vector<ControlDecision> got;
    drive(first, step, k, got, split);
    Controller resumed(defaults(), ControlState::unpack(first.state().pack()));
    ASSERT_EQ(resumed.state(), first.state());
    drive(resumed, step, k, got, b.size());
    ASSERT_EQ(got.size(), ref.size()) << "split " << split;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      EXPECT_EQ(got[i].step, ref[i].step) << "split " << split << ", decision " << i;
      EXPECT_EQ(got[i].after, ref[i].after) << "split " << split << ", decision " << i;
      EXPECT_EQ(got[i].reason, ref[i].reason) << "split " << split << ", decision " << i;
    }
  }
}

TEST(ControllerTrend, PackedStateKeepsEverything) {
  ControlState s = start(4, 3);
  s.strikes = 1;
  s.checks = 77;
  s.raise_bias = 0.125;
  s.next_check = 1234;
  s.last_check = 1229;
  s.verify = true;
  s.ref = {3.5e-6, 0.25};
  s.history = {{1200, 0.01}, {1225, 0.03}};
  const ControlState t = ControlState::unpack(s.pack());
  EXPECT_EQ(t, s);
  // Earlier formats still read; their next check is "now".
  const ControlState v2 = ControlState::unpack({2, 1, 3, 2, 0, 9, 0.4});
  EXPECT_EQ(v2.raise_bias, 0.4);
  EXPECT_EQ(v2.next_check, 0);
  EXPECT_TRUE(v2.history.empty());
  // A history whose length disagrees with its count, or a non-positive bias, is corrupt.
  std::vector<double> bad = s.pack();
  bad.pop_back();
  EXPECT_THROW(ControlState::unpack(bad), lpt::Error);
  bad = s.pack();
  bad.back() = -1;
  EXPECT_THROW(ControlState::unpack(bad), lpt::Error);
}

TEST(ControllerTrend, OptionsValidate) {
  ControllerOptions o;
  EXPECT_EQ(o.trend_horizon(), 50);
  EXPECT_EQ(o.trend_window(), 3);
  EXPECT_EQ(o.trend_growth(), 4);
  EXPECT_EQ(o.raise_order(), RaiseOrder::backward_first);
  EXPECT_THROW(o.set_trend(-1, 3, 4, 0.01), lpt::Error);
  EXPECT_THROW(o.set_trend(50, 1, 4, 0.01), lpt::Error);
  EXPECT_THROW(o.set_trend(50, 3, 1.0, 0.01), lpt::Error);
  EXPECT_THROW(o.set_trend(50, 3, 4, 1.0), lpt::Error);
  EXPECT_THROW(o.set_recheck(0, 0.5), lpt::Error);
  EXPECT_THROW(o.set_recheck(5, 0), lpt::Error);
  EXPECT_THROW(o.set_recheck(5, 1.5), lpt::Error);
  EXPECT_THROW(o.set_alarm_growth(1.0), lpt::Error);
  EXPECT_THROW(o.set_alarm_growth(-3), lpt::Error);
  EXPECT_THROW(o.set_check_every(0), lpt::Error);
  EXPECT_NO_THROW(o.set_alarm_growth(0));
  EXPECT_EQ(parse_raise_order(to_string(RaiseOrder::both)), RaiseOrder::both);
  EXPECT_THROW(parse_raise_order("forward_first"), lpt::Error);
}
