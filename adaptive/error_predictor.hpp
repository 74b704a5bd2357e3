#pragma once
// A cheap stand-in for the gradient error between checks. Measuring ‖ĝ − g‖ needs an exact serial
// gradient, as expensive as a serial step, so it runs only every few hundred steps; the MGRIT
// residuals of the forward and adjoint solves come free with every step. For a contracting
// iteration the remaining error is proportional to the residual, and the gradient error inherits
// it through the parameter-gradient sweep, so rel_error ≈ C · x^b over a run, with x a
// normalised residual the caller supplies (e.g. fwd_residual/‖u‖ + adj_residual/‖λ‖). We fit C
// and b from the (x, measured rel_error) pairs the checks produce and predict from x in between.
//
// The fit is least squares on log(rel_error) = a + b·log(x) over every pair seen. With fewer than
// three distinct indicator values a slope would be fitted to noise (two points always fit a line
// exactly), so b is fixed to 1 (error proportional to residual, the contraction argument) and
// only a is fitted: a = mean(log rel_error − log x).
#include <limits>
#include <utility>
#include <vector>

namespace lpt::mgrit {

class ErrorPredictor {
 public:
  // Pairs with a non-positive or non-finite indicator or measurement are ignored: a log fit cannot
  // use them, and a zero error (an exact solve) says nothing about the proportionality constant.
  void add(double indicator, double measured);
  // exp(a + b·log x); NaN until one pair is stored, or for a non-positive/non-finite indicator.
  double predict(double indicator) const;
  double slope() const { return b_; }      // b (1 until fitted)
  double intercept() const { return a_; }  // a (NaN until one pair)
  int samples() const { return int(pairs_.size()); }
  // The stored pairs (x, rel_error), in the order added: what a checkpoint needs to rebuild the
  // predictor by add()-ing them again.
  const std::vector<std::pair<double, double>>& pairs() const { return pairs_; }

 private:
  void fit();
  std::vector<std::pair<double, double>> pairs_;
  double a_ = std::numeric_limits<double>::quiet_NaN(), b_ = 1;
};

}  // namespace lpt::mgrit
