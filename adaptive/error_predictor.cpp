#include "adaptive/error_predictor.hpp"

#include <cmath>
#include <set>

namespace lpt::mgrit {

void ErrorPredictor::add(double indicator, double measured) {
  if (!(std::isfinite(indicator) && indicator > 0 && std::isfinite(measured) && measured > 0))
    return;
  pairs_.emplace_back(indicator, measured);
  fit();
}

// Refitted from all pairs on every add: checks are rare (a handful to a few hundred per run), so
// the O(pairs) cost is nothing, and a two-pass centred fit avoids the cancellation of raw sums.
void ErrorPredictor::fit() {
  const double k = double(pairs_.size());
  std::set<double> distinct;
  double mx = 0, my = 0;
  for (const auto& [x, y] : pairs_) {
    distinct.insert(x);
    mx += std::log(x);
    my += std::log(y);
  }
  mx /= k;
  my /= k;
  if (distinct.size() < 3) {
    b_ = 1;
    a_ = my - mx;  // mean of log y - log x
    return;
  }
  double sxx = 0, sxy = 0;
  for (const auto& [x, y] : pairs_) {
    const double dx = std::log(x) - mx;
    sxx += dx * dx;
    sxy += dx * (std::log(y) - my);
  }
  b_ = sxy / sxx;  // sxx > 0: at least three distinct x
  a_ = my - b_ * mx;
}

double ErrorPredictor::predict(double indicator) const {
  if (pairs_.empty() || !(std::isfinite(indicator) && indicator > 0))
    return std::numeric_limits<double>::quiet_NaN();
  return std::exp(a_ + b_ * std::log(indicator));
}

}  // namespace lpt::mgrit
