// Progress line (plain and live modes), the smoothed-rate ETA, duration/rate formatting, timers.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include "util/progress.hpp"
#include "util/timer.hpp"

using lpt::Progress;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST(Progress, PlainModePrintsEveryLogEverySteps) {
  std::ostringstream os;
  Progress p(25, os, /*tty=*/false);
  p.set_log_every(10);
  for (long s = 1; s <= 25; ++s) p.update(s, 5.0 - 0.1 * s, 1e-3, 12345.0, 0.5 * s);
  p.finish();
  const auto lines = lines_of(os.str());
  ASSERT_EQ(lines.size(), 3u) << os.str();  // steps 10, 20 and the last one
  EXPECT_EQ(lines[0],
            "step 10/25 (40.0%) | loss 4.0000 | lr 1.00e-03 | 12.3k tok/s | 0:05 elapsed | "
            "eta 0:08");
  EXPECT_EQ(lines[2].rfind("step 25/25 (100.0%) | loss 2.5000", 0), 0u) << lines[2];
  EXPECT_NE(lines[2].find("eta 0:00"), std::string::npos);
  EXPECT_EQ(os.str().find('\r'), std::string::npos);
}

TEST(Progress, ExtraFieldsAndUnitAreAppended) {
  std::ostringstream os;
  Progress p(4, os, false);
  p.set_log_every(2);
  p.set_unit("img/s");
  p.update(2, 1.25, 5e-4, 800, 1.0,
           {{"mode", "serial"}, lpt::progress_field("mgrit_it", 3, 0),
            lpt::progress_field("res", 1.5e-7)});
  EXPECT_EQ(os.str(),
            "step 2/4 (50.0%) | loss 1.2500 | lr 5.00e-04 | 800 img/s | 0:01 elapsed | eta 0:01 "
            "| mode serial | mgrit_it 3 | res 1.50e-07\n");
}

TEST(Progress, LiveModeRedrawsOneLineInPlace) {
  std::ostringstream os;
  Progress p(100, os, /*tty=*/true);
  p.set_redraw_interval(1.0);
  for (long s = 1; s <= 100; ++s) p.update(s, 100.0 / s, 1e-3, 1000, 0.1 * s);
  p.message("eval: loss 1.0");
  p.finish();
  const std::string out = os.str();
  // Redraws at most once per second of elapsed time (10 s in all) plus the final step.
  const auto redraws = std::count(out.begin(), out.end(), '\r');
  EXPECT_GE(redraws, 10);
  EXPECT_LE(redraws, 13);
  const auto lines = lines_of(out);
  ASSERT_EQ(lines.size(), 2u) << out;  // the message, then the live line ended by finish()
  EXPECT_EQ(lines[0].substr(lines[0].rfind('\r') + 1).rfind("eval: loss 1.0", 0), 0u);
  EXPECT_NE(lines[1].find("step 100/100"), std::string::npos);
}

TEST(Progress, ShorterLineOverwritesTheLongerOne) {
  std::ostringstream os;
  Progress p(10, os, true);
  p.set_redraw_interval(0);
  p.update(1, 1.0, 1e-3, 1, 1.0, {{"note", "a long extra field"}});
  p.update(2, 1.0, 1e-3, 1, 2.0);
  const std::string out = os.str();
  const std::string first = out.substr(1, out.find('\r', 1) - 1);
  const std::string second = out.substr(out.find('\r', 1) + 1);
  EXPECT_EQ(second.size(), first.size());
  EXPECT_EQ(second.back(), ' ');
}

TEST(RateEstimator, EtaAtConstantSpeedIsExact) {
  lpt::RateEstimator r;
  EXPECT_LT(r.eta(0, 100), 0);  // unknown yet
  for (long s = 1; s <= 40; ++s) r.observe(s, 0.25 * s);  // 4 steps/s
  EXPECT_NEAR(r.steps_per_second(), 4.0, 1e-9);
  EXPECT_NEAR(r.eta(40, 100), 15.0, 1e-9);
  EXPECT_EQ(r.eta(100, 100), 0.0);
}

TEST(RateEstimator, ResumedRunCountsOnlyStepsSinceTheClockStarted) {
  lpt::RateEstimator r;
  r.set_start_step(500);
  r.observe(510, 5.0);  // 10 steps in 5 s, not 510
  EXPECT_NEAR(r.steps_per_second(), 2.0, 1e-12);
  EXPECT_NEAR(r.eta(510, 1000), 245.0, 1e-9);
}

TEST(RateEstimator, OneSlowStepMovesEtaOnlyPartly) {
  lpt::RateEstimator r(0.2);
  double t = 0;
  for (long s = 1; s <= 20; ++s) r.observe(s, t += 1.0);  // 1 step/s
  r.observe(21, t += 11.0);                               // one step took 11 s (evaluation)
  // Smoothed: 0.2 * (1/11) + 0.8 * 1.
  EXPECT_NEAR(r.steps_per_second(), 0.2 / 11 + 0.8, 1e-12);
  EXPECT_NEAR(r.eta(21, 100), 79 / (0.2 / 11 + 0.8), 1e-9);
  r.observe(21, t + 5);  // no new step: ignored
  EXPECT_NEAR(r.steps_per_second(), 0.2 / 11 + 0.8, 1e-12);
}

TEST(Progress, DurationAndRateFormats) {
  EXPECT_EQ(lpt::format_duration(7.4), "0:07");
  EXPECT_EQ(lpt::format_duration(725), "12:05");
  EXPECT_EQ(lpt::format_duration(3723), "1:02:03");
  EXPECT_EQ(lpt::format_duration(-1), "--:--");
  EXPECT_EQ(lpt::format_rate(532.4), "532");
  EXPECT_EQ(lpt::format_rate(12345), "12.3k");
  EXPECT_EQ(lpt::format_rate(4.56e6), "4.56M");
}

TEST(Timers, AccumulateNamedPhases) {
  lpt::Timers t;
  for (int i = 0; i < 3; ++i) {
    lpt::ScopedTime s(t, "forward");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  t.add("optimizer", 0.5);
  EXPECT_EQ(t.count("forward"), 3);
  EXPECT_GE(t.seconds("forward"), 0.006);
  EXPECT_LT(t.seconds("forward"), 1.0);
  EXPECT_EQ(t.seconds(std::vector<std::string>{"forward", "backward", "optimizer"})[1], 0.0);
  EXPECT_DOUBLE_EQ(t.seconds("optimizer"), 0.5);
  EXPECT_THROW(t.stop("backward"), lpt::Error);
  t.start("backward");
  EXPECT_THROW(t.start("backward"), lpt::Error);
  lpt::Timer timer;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_GE(timer.lap(), 0.002);
  EXPECT_LT(timer.seconds(), 0.002);
}
