#include "experiments/lib/gradient_monitor.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.hpp"
#include "util/timer.hpp"

namespace lpt {
namespace {

double last_conv(const mgrit::SolveStats& s) {
  for (auto it = s.history.rbegin(); it != s.history.rend(); ++it)
    if (it->conv_factor >= 0) return it->conv_factor;
  return -1;
}

double relative(double residual, double scale) {
  return scale > 0 && residual >= 0 ? residual / scale : 0.0;
}

}  // namespace

double error_indicator(const LayerParallelStep& lp) {
  // A forward residual perturbs u_N (and so λ_N and every linearisation point); an adjoint
  // residual perturbs λ directly. Each relative to its own scale; their sum is the first-order
  // size of the gradient's error up to a model-dependent constant, which the predictor fits.
  const double f = lp.forward_exact() ? 0.0
                                      : relative(lp.forward_stats().final_residual,
                                                 lp.final_state_norm());
  return f + relative(lp.adjoint_stats().final_residual, lp.final_adjoint_norm());
}

GradientMonitor::GradientMonitor(Model<float>& model, int batches)
    : model_(model), batches_(batches) {
  require(batches >= 1, "monitor.batches must be >= 1, got ", batches);
  OdeStep<float>& st = model.steps();
  const std::size_t total = model.params().size();
  std::size_t lo = total, hi = 0;
  for (int n = 0; n < st.num_steps(); ++n) {
    lo = std::min(lo, st.param_offset(n));
    hi = std::max(hi, st.param_offset(n) + st.param_count(n));
  }
  if (lo > 0) segments_.push_back({"opening", 0, lo});
  for (int n = 0; n < st.num_steps(); ++n)
    segments_.push_back({"layer." + std::to_string(n), st.param_offset(n),
                         st.param_offset(n) + st.param_count(n)});
  if (hi < total) segments_.push_back({"closing", hi, total});
}

std::vector<std::string> GradientMonitor::segment_names() const {
  std::vector<std::string> v;
  for (const auto& s : segments_) v.push_back(s.name);
  return v;
}

GradientCheck GradientMonitor::check(long step, Task& task, TrainStep<float>& serial,
                                     LayerParallelStep& lp) {
  Timer t;
  ParamStore<float>& p = model_.params();
  const std::size_t n = p.size();
  GradientCheck c;
  c.step = step;
  const mgrit::SolveStats& fs = lp.forward_stats();
  const mgrit::SolveStats& as = lp.adjoint_stats();
  c.fwd_residual = lp.forward_exact() ? 0.0 : fs.final_residual;
  c.adj_residual = as.final_residual;
  c.fwd_conv = lp.forward_exact() ? -1 : last_conv(fs);
  c.adj_conv = last_conv(as);
  c.indicator = error_indicator(lp);
  c.predicted = predictor_.predict(c.indicator);

  ghat0_.assign(p.grads(), p.grads() + n);
  serial.forward_backward();
  g_.assign(p.grads(), p.grads() + n);
  c.first = mgrit::compare_gradients(ghat0_.data(), g_.data(), n, segments_);
  bias_.reset(n);
  bias_.add(ghat0_.data(), g_.data());
  for (int k = 1; k < batches_; ++k) {
    task.bind_lookahead(k);
    lp.forward_backward();
    ghat_.assign(p.grads(), p.grads() + n);
    serial.forward_backward();
    bias_.add(ghat_.data(), p.grads());
  }
  c.bias = bias_.estimate();
  predictor_.add(c.indicator, c.first.rel_error);

  task.bind_lookahead(0);
  std::copy(ghat0_.begin(), ghat0_.end(), p.grads());
  c.seconds = t.seconds();
  return c;
}

}  // namespace lpt
