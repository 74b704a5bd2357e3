#include "train/gradient_monitor.hpp"

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

GradientMonitor::GradientMonitor(Model<float>& model, int batches, MonitorPrecision precision,
                                 const ParamShards* shards)
    : model_(model), batches_(batches), precision_(precision), shards_(shards) {
  require(batches >= 1, "monitor.batches must be >= 1, got ", batches);
  OdeStep<float>& st = model.steps();
  const std::size_t total = model.params().size();  // the owned part
  // A layer is this rank's segment when it owns it; elsewhere the segment is empty here.
  auto owned = [&](int n) { return st.holds_layer(n) && st.param_offset(n) < total; };
  std::size_t lo = total, hi = 0;
  for (int n = 0; n < st.num_steps(); ++n)
    if (owned(n)) {
      lo = std::min(lo, st.param_offset(n));
      hi = std::max(hi, st.param_offset(n) + st.param_count(n));
    }
  hi = std::max(hi, lo);
  if (lo > 0 || shards) segments_.push_back({"opening", 0, lo});
  for (int n = 0; n < st.num_steps(); ++n) {
    const std::size_t b = owned(n) ? st.param_offset(n) : 0;
    segments_.push_back({"layer." + std::to_string(n), b, owned(n) ? b + st.param_count(n) : b});
  }
  if (hi < total || shards) segments_.push_back({"closing", hi, total});
  if (shards) {
    ranks_ = [shards](std::vector<double>& v) { shards->sum_by_index(v); };
    bias_.set_partition(segments_, ranks_);
  }
}

void GradientMonitor::exact(TrainStep<float>& serial, const LayerParallelStep& lp) {
  if (!shards_ || !shards_->split()) {
    serial.forward_backward();
    return;
  }
  if (!exact_) {
    exact_ = std::make_unique<LayerParallelStep>(model_, lp.comm());
    exact_->configure(exact_solver(lp.solver_config()), false);
    exact_->set_shards(shards_);
  }
  exact_->forward_backward();
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
  if (precision_ == MonitorPrecision::float64) {
    measure64(c, task, lp);
    task.bind_lookahead(0);
    std::copy(ghat0_.begin(), ghat0_.end(), p.grads());
    c.seconds = t.seconds();
    return c;
  }
  exact(serial, lp);
  g_.assign(p.grads(), p.grads() + n);
  c.first = mgrit::compare_gradients(ghat0_.data(), g_.data(), n, segments_, ranks_);
  bias_.reset(n);
  bias_.add(ghat0_.data(), g_.data());
  for (int k = 1; k < batches_; ++k) {
    task.bind_lookahead(k);
    lp.forward_backward();
    ghat_.assign(p.grads(), p.grads() + n);
    exact(serial, lp);
    bias_.add(ghat_.data(), p.grads());
  }
  c.bias = bias_.estimate();
  predictor_.add(c.indicator, c.first.rel_error);

  task.bind_lookahead(0);
  std::copy(ghat0_.begin(), ghat0_.end(), p.grads());
  c.seconds = t.seconds();
  return c;
}

void GradientMonitor::measure64(GradientCheck& c, Task& task, const LayerParallelStep& lp) {
  Model<double>& m = task.model64();
  ParamStore<double>& q = m.params();
  const ParamStore<float>& p = model_.params();
  require(q.size() == p.size(), "float64 monitor: the twin has ", q.size(),
          " parameters, the model ", p.size(), " (internal error)");
  const std::size_t n = q.size();
  const bool split = shards_ && shards_->split();
  if (!lp64_) {
    lp64_ = std::make_unique<BasicLayerParallelStep<double>>(m, lp.comm());
    lp64_->configure(lp.solver_config(), lp.forward_exact());
    lp64_->set_shards(shards_);
    if (split) {
      exact64_ = std::make_unique<BasicLayerParallelStep<double>>(m, lp.comm());
      exact64_->configure(exact_solver(lp.solver_config()), false);
      exact64_->set_shards(shards_);
    } else {
      serial64_ = std::make_unique<TrainStep<double>>(m, nullptr);
    }
  }
  // Iterations follow the controller; the rest of the settings never change during a run.
  lp64_->set_iterations(lp.forward_iterations(), lp.backward_iterations());
  // float -> double is exact; the ghosts too (the twin has the same split).
  std::copy(p.values(), p.values() + p.storage_size(), q.values());
  m.set_h(model_.config().h);
  m.set_train(model_.train());
  m.set_dropout_key(model_.dropout_seed(), model_.dropout_step());
  bias_.reset(n);
  for (int k = 0; k < batches_; ++k) {
    task.bind_lookahead(k);  // binds the twin too
    lp64_->forward_backward();
    ghat64_.assign(q.grads(), q.grads() + n);
    if (split)
      exact64_->forward_backward();
    else
      serial64_->forward_backward();
    if (k == 0)
      c.first = mgrit::compare_gradients(ghat64_.data(), q.grads(), n, segments_, ranks_);
    bias_.add(ghat64_.data(), q.grads());
  }
  c.bias = bias_.estimate();
  predictor_.add(c.indicator, c.first.rel_error);
}

}  // namespace lpt
