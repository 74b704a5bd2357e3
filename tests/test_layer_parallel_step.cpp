// The layer-parallel gradient (adaptive/layer_parallel_step.hpp) against serial
// back-propagation (train/train_step.hpp) on real families, float32 as training runs it:
// enough MGRIT iterations reproduce the serial loss and gradient to rounding; an exact forward
// (serial_forward) reproduces the loss bit for bit; one iteration gives a different gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "adaptive/layer_parallel_step.hpp"
#include "train/config.hpp"
#include "train/cost_oracle.hpp"
#include "perfmodel/cycle_settings.hpp"
#include "model/families/gpt.hpp"
#include "model/families/mt.hpp"
#include "model/families/vit.hpp"
#include "train/train_step.hpp"
#include "test_family_util.hpp"

namespace {

using namespace lpt;

double rel_diff(const float* a, const float* b, std::size_t n) {
  double d = 0, s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    s += double(b[i]) * b[i];
  }
  return std::sqrt(d / s);
}

struct Grad {
  double loss = 0;
  std::vector<float> g;
};

Grad serial(Model<float>& m) {
  TrainStep<float> ts(m, nullptr);
  Grad r;
  r.loss = ts.forward_backward();
  r.g.assign(m.params().grads(), m.params().grads() + m.params().size());
  return r;
}

Grad layer_parallel(Model<float>& m, SolverConfig sc, bool exact_forward) {
  LayerParallelStep lp(m);
  lp.configure(sc, exact_forward);
  Grad r;
  r.loss = lp.forward_backward();
  r.g.assign(m.params().grads(), m.params().grads() + m.params().size());
  EXPECT_EQ(lp.forward_stats().iterations, exact_forward ? 1 : sc.forward.iterations);
  EXPECT_EQ(lp.adjoint_stats().iterations, sc.backward.iterations);
  return r;
}

SolverConfig mgrit(int levels, int cfactor, int fwd_iters, int bwd_iters) {
  SolverConfig s;
  s.forward = {levels, cfactor, lpt::Relax::F, fwd_iters};
  s.backward = {levels, cfactor, lpt::Relax::F, bwd_iters};
  return s;
}

std::unique_ptr<GptModel<float>> gpt(int layers) {
  ModelConfig c;
  c.d_model = 16, c.heads = 2, c.d_ff = 32, c.layers = layers, c.vocab = 13, c.max_len = 8;
  c.h = 1.0 / layers;
  auto m = std::make_unique<GptModel<float>>(c);
  m->init(7);
  static GptBatch b;
  b.shape(3, 8);
  std::mt19937 rng(2);
  for (auto& t : b.tokens) t = rng() % 13;
  for (auto& t : b.targets) t = rng() % 13;
  m->set_batch(b);
  return m;
}

TEST(LayerParallelStep, ManyIterationsReproduceSerialGradient) {
  auto m = gpt(16);
  const Grad ser = serial(*m);
  for (int levels : {2, 3}) {
    SCOPED_TRACE(testing::Message() << "levels " << levels);
    const Grad par = layer_parallel(*m, mgrit(levels, 2, 12, 12), false);
    EXPECT_NEAR(par.loss, ser.loss, 2e-6 * std::abs(ser.loss));
    EXPECT_LT(rel_diff(par.g.data(), ser.g.data(), ser.g.size()), 2e-5);
  }
}

void expect_same_cycle(const perf::MgritSettings& a, const perf::MgritSettings& b) {
  EXPECT_EQ(a.levels, b.levels);
  for (int l = 0; l + 1 < a.levels; ++l) {
    EXPECT_EQ(a.cf(l), b.cf(l)) << "level " << l;
    EXPECT_EQ(a.rx(l), b.rx(l)) << "level " << l;
  }
  EXPECT_EQ(a.skip_first_down, b.skip_first_down);
}

// The controller's cost oracle prices the cycles training runs (issue 11): the settings it builds
// from the config equal those read back from the solver after a training step, for every mode,
// with forward and backward sections that differ in every field.
TEST(LayerParallelStep, CostOracleSettingsAreTheCyclesTheSolverRuns) {
  for (const char* mode : {"parallel", "adaptive", "serial_forward"}) {
    SCOPED_TRACE(mode);
    const RunConfig cfg = resolve_config(
        nlohmann::json::object(),
        {"model.layers=16", std::string("solver.mode=") + mode, "solver.mgrit.forward.levels=3",
         "solver.mgrit.forward.cfactor=2", "solver.mgrit.forward.relax=FCF",
         "solver.mgrit.forward.skip=true", "solver.mgrit.forward.iterations=3",
         "solver.mgrit.backward.levels=2", "solver.mgrit.backward.cfactor=4",
         "solver.mgrit.backward.iterations=2"});
    auto m = gpt(16);
    LayerParallelStep lp(*m);
    const bool exact = cfg.solver.mode == SolverMode::serial_forward;
    lp.configure(cfg.solver, exact);
    lp.forward_backward();
    const perf::MgritSettings ran =
        perf::settings_of(lp.solver()->forward_cycle(), lp.solver()->adjoint_cycle());
    const perf::MgritSettings priced = trainer_settings(cfg);
    expect_same_cycle(ran.adjoint_settings(), priced.adjoint_settings());
    EXPECT_EQ(ran.bwd_iters, priced.bwd_iters);
    EXPECT_FALSE(priced.adjoint_settings().skip_first_down);
    EXPECT_EQ(priced.adjoint_settings().levels, 2);
    // serial_forward steps exactly (one level); the oracle prices that forward as serial
    // stepping (its fwd == 0 case), the MGRIT settings describe the config's forward section.
    if (exact) {
      EXPECT_EQ(ran.levels, 1);
      continue;
    }
    expect_same_cycle(ran, priced);
    EXPECT_EQ(ran.fwd_iters, priced.fwd_iters);
    EXPECT_TRUE(priced.skip_first_down);
    EXPECT_EQ(priced.describe(), "L3 m2 FCF/FCF it3/2 | bwd L2 m4 F noskip");
  }
}

TEST(LayerParallelStep, OneIterationIsInexactButClose) {
  auto m = gpt(16);
  const Grad ser = serial(*m);
  const Grad par = layer_parallel(*m, mgrit(2, 4, 1, 1), false);
  const double e = rel_diff(par.g.data(), ser.g.data(), ser.g.size());
  EXPECT_GT(e, 1e-5) << "one F-relaxed iteration is not exact on 16 layers";
  EXPECT_LT(e, 0.5);
}

TEST(LayerParallelStep, ExactForwardGivesTheSerialLossBitForBit) {
  auto m = gpt(8);
  const Grad ser = serial(*m);
  const Grad par = layer_parallel(*m, mgrit(2, 2, 1, 1), true);
  EXPECT_EQ(par.loss, ser.loss);
  // The adjoint is still one MGRIT iteration: not the serial gradient.
  EXPECT_GT(rel_diff(par.g.data(), ser.g.data(), ser.g.size()), 0.0);
  const Grad conv = layer_parallel(*m, mgrit(2, 2, 1, 10), true);
  EXPECT_LT(rel_diff(conv.g.data(), ser.g.data(), ser.g.size()), 2e-5);
}

TEST(LayerParallelStep, TranslationWithBoundaryOnTheCoarseGrid) {
  MtModel<float> m(test::chain_mt_config());
  m.init(4);
  const MtBatch b = test::chain_mt_batch();
  m.set_batch(b);
  const Grad ser = serial(m);
  const Grad par = layer_parallel(m, mgrit(3, 2, 10, 10), false);
  EXPECT_NEAR(par.loss, ser.loss, 2e-6 * std::abs(ser.loss));
  EXPECT_LT(rel_diff(par.g.data(), ser.g.data(), ser.g.size()), 2e-5);
}

TEST(LayerParallelStep, IterationsCanChangeBetweenSteps) {
  auto m = gpt(16);
  const Grad ser = serial(*m);
  LayerParallelStep lp(*m);
  lp.configure(mgrit(2, 4, 1, 1), false);
  lp.forward_backward();
  const double e1 = rel_diff(m->params().grads(), ser.g.data(), ser.g.size());
  lp.set_iterations(8, 8);
  lp.forward_backward();
  EXPECT_EQ(lp.forward_stats().iterations, 8);
  const double e8 = rel_diff(m->params().grads(), ser.g.data(), ser.g.size());
  EXPECT_LT(e8, e1 / 10);
}

SolverConfig with_guess(SolverConfig s, AdjointGuess g) {
  s.adjoint_guess = g;
  return s;
}

// Two-level F-relaxation is exact after N/m iterations whatever the adjoint starts from.
TEST(LayerParallelStep, EveryAdjointGuessConvergesToTheSerialGradient) {
  auto m = gpt(16);
  const Grad ser = serial(*m);
  for (AdjointGuess g : {AdjointGuess::zero, AdjointGuess::terminal, AdjointGuess::previous}) {
    SCOPED_TRACE(to_string(g));
    const Grad par = layer_parallel(*m, with_guess(mgrit(2, 4, 4, 4), g), false);
    EXPECT_LT(rel_diff(par.g.data(), ser.g.data(), ser.g.size()), 2e-5);
  }
}

TEST(LayerParallelStep, AdjointGuessChangesTheInexactGradient) {
  auto m = gpt(16);
  const Grad ser = serial(*m);
  const Grad zero = layer_parallel(*m, mgrit(2, 4, 2, 1), false);
  const Grad term = layer_parallel(*m, with_guess(mgrit(2, 4, 2, 1), AdjointGuess::terminal), false);
  EXPECT_GT(rel_diff(term.g.data(), zero.g.data(), ser.g.size()), 1e-4);
  EXPECT_LT(rel_diff(term.g.data(), ser.g.data(), ser.g.size()), 0.5);

  // previous: the first solve has no states and starts from zero; a second solve of the same
  // batch continues from the first one's adjoint, i.e. one more iteration of the same problem.
  LayerParallelStep lp(*m);
  lp.configure(with_guess(mgrit(2, 4, 2, 1), AdjointGuess::previous), false);
  lp.forward_backward();
  const std::vector<float> first(m->params().grads(), m->params().grads() + ser.g.size());
  EXPECT_EQ(first, zero.g);
  lp.forward_backward();
  const double e1 = rel_diff(first.data(), ser.g.data(), ser.g.size());
  const double e2 = rel_diff(m->params().grads(), ser.g.data(), ser.g.size());
  EXPECT_LT(e2, e1 / 2);
}

// The float64 instance (what monitor.precision = float64 runs): exact to float64 rounding with
// N/m iterations, and with few iterations the same inexact gradient as float32's to float32
// precision.
TEST(LayerParallelStep, Float64InstanceIsExactToItsRoundingAndMatchesFloat32) {
  auto m = gpt(16);
  GptModel<double> d(m->config());
  std::copy(m->params().values(), m->params().values() + m->params().size(),
            d.params().values());
  GptBatch b;
  b.shape(3, 8);
  std::mt19937 rng(2);  // the batch gpt() draws
  for (auto& t : b.tokens) t = rng() % 13;
  for (auto& t : b.targets) t = rng() % 13;
  d.set_batch(b);
  TrainStep<double> ts(d, nullptr);
  ts.forward_backward();
  const std::vector<double> g(d.params().grads(), d.params().grads() + d.params().size());
  auto rel64 = [&](const double* a) {
    double e = 0, n = 0;
    for (std::size_t i = 0; i < g.size(); ++i) e += (a[i] - g[i]) * (a[i] - g[i]), n += g[i] * g[i];
    return std::sqrt(e / n);
  };
  BasicLayerParallelStep<double> lp(d);
  lp.configure(mgrit(2, 4, 4, 4), false);
  lp.forward_backward();
  EXPECT_LT(rel64(d.params().grads()), 1e-12);

  lp.set_iterations(2, 1);
  lp.forward_backward();
  const Grad few32 = layer_parallel(*m, mgrit(2, 4, 2, 1), false);
  std::vector<float> few64(d.params().grads(), d.params().grads() + g.size());
  EXPECT_LT(rel_diff(few32.g.data(), few64.data(), g.size()), 1e-5);
  EXPECT_GT(rel64(d.params().grads()), 1e-4) << "two/one iterations are not exact";
}

}  // namespace
