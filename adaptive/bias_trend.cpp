#include "adaptive/bias_trend.hpp"

#include <algorithm>
#include <cmath>

namespace lpt::mgrit {

double BiasTrend::project(long ahead) const {
  return valid ? fitted * std::exp(slope * double(ahead)) : fitted;
}

BiasTrend fit_bias_trend(const std::vector<BiasReading>& readings) {
  BiasTrend t;
  if (readings.empty()) return t;
  // Centred sums: steps can be large (1e6) and close together, so raw sums of squares would
  // cancel.
  double mt = 0, my = 0;
  long lo = readings.front().step, hi = lo;
  for (const BiasReading& r : readings) {
    mt += double(r.step);
    my += std::log(r.bias);
    lo = std::min(lo, r.step);
    hi = std::max(hi, r.step);
  }
  const double n = double(readings.size());
  mt /= n;
  my /= n;
  double stt = 0, sty = 0;
  for (const BiasReading& r : readings) {
    const double dt = double(r.step) - mt;
    stt += dt * dt;
    sty += dt * (std::log(r.bias) - my);
  }
  if (hi == lo || stt <= 0) {
    t.fitted = std::exp(my);
    return t;
  }
  t.valid = true;
  t.slope = sty / stt;
  t.growth = std::exp(t.slope * double(hi - lo));
  t.fitted = std::exp(my + t.slope * (double(hi) - mt));
  return t;
}

}  // namespace lpt::mgrit
