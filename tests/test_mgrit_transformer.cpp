// MGRIT on real transformer chains: converged forward and adjoint solves through the families'
// ODE steps equal serial propagation and serial back-propagation (float64), for a GPT chain and
// for the stacked encoder-decoder chain of translation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/families/gpt.hpp"
#include "model/families/mt.hpp"
#include "train/train_step.hpp"
#include "test_family_util.hpp"
#include "solver/flat_app.hpp"
#include "solver/solver.hpp"

namespace {

using namespace lpt;
using lpt::mgrit::FlatApp;
using lpt::mgrit::Solver;
using lpt::mgrit::StepInfo;

struct Outcome {
  double loss = 0;
  std::vector<double> grads;
  std::vector<double> uN;
  int fwd_iters = 0, adj_iters = 0;
};

// Loss and all parameter gradients with the chain solved by MGRIT to tolerance.
Outcome mgrit_gradients(Model<double>& m, int levels, int cfactor, mgrit::Relax relax) {
  OdeStep<double>& steps = m.steps();
  const std::size_t n = steps.state_size();
  double* grads = m.params().grads();
  FlatApp<double> app(
      n, [&](const StepInfo& s, const double* u, double* out) {
        steps.forward(int(s.layer), s.h, u, out, nullptr);
      },
      [&](const StepInfo& s, const double* u, const double* lam_next, double* lam_out, bool g) {
        steps.backward(int(s.layer), s.h, u, nullptr, lam_next, lam_out,
                       g ? grads + steps.param_offset(int(s.layer)) : nullptr);
      });
  Solver solver(app, steps.num_steps());
  solver.set_step_size(m.h(0));
  for (auto* o : {&solver.forward_options(), &solver.adjoint_options()}) {
    o->set_max_levels(levels);
    o->set_cfactor(cfactor);
    o->set_relax(relax);
    o->set_abs_tol(1e-13);
    o->set_max_iter(60);
  }
  m.params().zero_grads();
  std::vector<double> u0(n);
  m.open_forward(u0.data());
  Outcome r;
  r.fwd_iters = solver.solve(*app.make(u0.data())).iterations;
  const auto& uN = mgrit::flat<double>(*solver.final_state()).v;
  r.uN = uN;
  std::vector<double> lamN(n);
  r.loss = m.close(uN.data(), lamN.data());
  r.adj_iters = solver.solve_adjoint(app.make(lamN.data()).get()).iterations;
  m.open_backward(mgrit::flat<double>(*solver.gradient_u0()).v.data());
  r.grads.assign(grads, grads + m.params().size());
  return r;
}

Outcome serial_gradients(Model<double>& m) {
  TrainStep<double> ts(m, nullptr);
  Outcome r;
  r.loss = ts.forward_backward();
  const std::size_t n = m.steps().state_size();
  const double* uN = ts.state(m.steps().num_steps());
  r.uN.assign(uN, uN + n);
  r.grads.assign(m.params().grads(), m.params().grads() + m.params().size());
  return r;
}

double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    s += b[i] * b[i];
  }
  return std::sqrt(d / std::max(s, 1e-300));
}

void expect_equal(const Outcome& par, const Outcome& ser) {
  EXPECT_NEAR(par.loss, ser.loss, 1e-12 * std::abs(ser.loss));
  EXPECT_LT(rel_diff(par.uN, ser.uN), 1e-12);
  EXPECT_LT(rel_diff(par.grads, ser.grads), 1e-10);
  EXPECT_GT(par.fwd_iters, 1) << "a one-iteration solve proves nothing about the cycle";
}

TEST(MgritTransformer, ConvergedGptChainEqualsSerialBackprop) {
  ModelConfig c;
  c.d_model = 12, c.heads = 3, c.d_ff = 20, c.layers = 16, c.vocab = 11, c.max_len = 7;
  c.h = 1.0 / 16;
  GptModel<double> m(c);
  m.init(3);
  GptBatch b;
  b.shape(2, 7);
  std::mt19937 rng(5);
  for (auto& t : b.tokens) t = rng() % 11;
  for (auto& t : b.targets) t = rng() % 11;
  m.set_batch(b);
  const Outcome ser = serial_gradients(m);
  for (auto relax : {mgrit::Relax::F, mgrit::Relax::FCF}) {
    for (int levels : {2, 3}) {
      SCOPED_TRACE(testing::Message() << "levels " << levels << " relax "
                                      << (relax == mgrit::Relax::F ? "F" : "FCF"));
      expect_equal(mgrit_gradients(m, levels, 2, relax), ser);
    }
  }
}

TEST(MgritTransformer, ConvergedTranslationChainEqualsSerialBackprop) {
  MtModel<double> m(test::chain_mt_config());
  m.init(4);
  const MtBatch b = test::chain_mt_batch();
  m.set_batch(b);
  const Outcome ser = serial_gradients(m);
  // cfactor 2 on 3 levels: the encoder/decoder boundary (step 4) is a coarse point everywhere.
  expect_equal(mgrit_gradients(m, 3, 2, mgrit::Relax::FCF), ser);
  expect_equal(mgrit_gradients(m, 2, 4, mgrit::Relax::F), ser);
}

}  // namespace
