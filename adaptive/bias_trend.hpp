#pragma once
// The trend of the measured gradient bias over the last few checks, for the switching rule's
// early trigger (docs/controller.md, "Acting on the trend"). MGRIT's bias does not creep up: in
// the runs that chose this rule it grew by one to two orders of magnitude within 50 training steps
// while still far below eta (0.005 -> 0.15 on the 32-layer GPT at h = 1/32). A straight line in
// log(bias) against the step captures that growth with two parameters, and its extrapolation
// says whether the bias will be above eta before the next chance to act.
#include <vector>

namespace lpt::mgrit {

struct BiasReading {
  long step = 0;
  double bias = 0;  // > 0 and finite (the caller filters)
};

struct BiasTrend {
  bool valid = false;    // at least two readings at distinct steps
  double slope = 0;      // d log(bias) / d step, least squares
  double growth = 1;     // exp(slope * (last step - first step)): the fitted growth over the window
  double fitted = 0;     // the line's value at the last reading's step
  // The line's value `ahead` steps after the last reading.
  double project(long ahead) const;
};

// Least-squares line through (step, log bias) of the readings (in any order).
BiasTrend fit_bias_trend(const std::vector<BiasReading>& readings);

}  // namespace lpt::mgrit
