// Whole chains through the OdeStep interface, as the serial solver uses it: propagate u0 -> u_N
// storing tapes, backpropagate λ_N = u_N (loss ½‖u_N‖²), and compare dL/du0 and dL/dθ for every
// layer with central differences; the translation chain crosses the encoder→decoder boundary.
// Also: concurrent calls on different layers from OpenMP threads, and user errors.
#include <gtest/gtest.h>
#include <omp.h>

#include "model/blocks/ode_step_transformer.hpp"
#include "model/blocks/ode_step_translation.hpp"
#include "tests/test_block_util.hpp"

namespace {

using namespace lpt;
using lpt::test::random_vector;

// Serial forward with tapes, serial backprop of ½‖u_N‖²; returns the loss, fills dL/du0 and the
// parameter gradients (ParamStore grads).
double chain_loss_and_grads(OdeStep<double>& steps, ParamStore<double>& ps, double h,
                            const std::vector<double>& u0, std::vector<double>* du0) {
  const int N = steps.num_steps();
  const std::size_t n = steps.state_size();
  std::vector<std::vector<double>> u(N + 1, std::vector<double>(n));
  std::vector<test::Aligned<double>> tapes;
  for (int l = 0; l < N; ++l) tapes.emplace_back(steps.tape_size(l));
  u[0] = u0;
  for (int l = 0; l < N; ++l)
    steps.forward(l, h, u[l].data(), u[l + 1].data(), du0 ? tapes[l].data() : nullptr);
  const double loss = 0.5 * test::dot(u[N].data(), u[N].data(), n);
  if (!du0) return loss;
  ps.zero_grads();
  std::vector<double> lam = u[N];
  for (int l = N - 1; l >= 0; --l)
    steps.backward(l, h, u[l].data(), tapes[l].data(), lam.data(), lam.data(),
                   ps.grads() + steps.param_offset(l));
  *du0 = lam;
  return loss;
}

void check_chain(OdeStep<double>& steps, ParamStore<double>& ps, double h) {
  auto u0 = random_vector(steps.state_size(), 61);
  std::vector<double> du0;
  chain_loss_and_grads(steps, ps, h, u0, &du0);
  const std::vector<double> dtheta(ps.grads(), ps.grads() + ps.size());
  auto loss = [&] { return chain_loss_and_grads(steps, ps, h, u0, nullptr); };
  EXPECT_LT(test::grad_check(u0.data(), u0.size(), du0, loss).rel_error, 1e-6);
  EXPECT_LT(test::grad_check(ps.values(), ps.size(), dtheta, loss).rel_error, 1e-6);
  // Every layer receives a gradient.
  for (int l = 0; l < steps.num_steps(); ++l) {
    double s = 0;
    for (std::size_t i = 0; i < steps.param_count(l); ++i) s += std::abs(dtheta[steps.param_offset(l) + i]);
    EXPECT_GT(s, 0.0) << "layer " << l;
  }
}

std::unique_ptr<TransformerSteps<double>> make_gpt(ParamStore<double>& ps, int layers, int B, int T,
                                                   bool pad, double p) {
  TransformerStepsConfig cfg;
  cfg.dims = {6, 2, 10};
  cfg.layers = layers;
  cfg.causal = true;
  cfg.dropout = p;
  for (int n = 0; n < layers; ++n)
    register_layer_params(ps, "layers." + std::to_string(n) + ".", cfg.dims, false);
  ps.finalize();
  test::fill_params(ps, 71);
  auto s = std::make_unique<TransformerSteps<double>>(ps, cfg);
  StepBatch b;
  b.B = B;
  b.T = T;
  if (pad) b.key_mask = test::tail_mask(B, T);
  b.dropout_seed = 5;
  s->set_batch(b);
  return s;
}

std::unique_ptr<TranslationSteps<double>> make_translation(ParamStore<double>& ps, int ne, int nd,
                                                           double p) {
  TranslationStepsConfig cfg;
  cfg.dims = {6, 3, 8};
  cfg.enc_layers = ne;
  cfg.dec_layers = nd;
  cfg.dropout = p;
  for (int n = 0; n < ne; ++n) register_layer_params(ps, "enc." + std::to_string(n) + ".", cfg.dims, false);
  for (int k = 0; k < nd; ++k) register_layer_params(ps, "dec." + std::to_string(k) + ".", cfg.dims, true);
  ps.finalize();
  test::fill_params(ps, 72);
  auto s = std::make_unique<TranslationSteps<double>>(ps, cfg);
  StepBatch b;
  b.B = 2;
  b.T = 4;
  b.T_tgt = 3;
  b.key_mask = test::tail_mask(2, 4);
  b.dropout_seed = 9;
  s->set_batch(b);
  return s;
}

TEST(OdeStep, GptChainGradients) {
  ParamStore<double> ps;
  auto steps = make_gpt(ps, 4, 2, 3, true, 0.2);
  EXPECT_EQ(steps->num_steps(), 4);
  EXPECT_EQ(steps->state_size(), std::size_t(2 * 3 * 6));
  check_chain(*steps, ps, 0.25);
}

TEST(OdeStep, TranslationChainThroughBoundary) {
  ParamStore<double> ps;
  auto steps = make_translation(ps, 2, 2, 0.1);
  EXPECT_EQ(steps->num_steps(), 4);
  EXPECT_EQ(steps->state_size(), std::size_t(2 * (4 + 3) * 6));
  EXPECT_FALSE(steps->is_decoder(1));
  EXPECT_TRUE(steps->is_decoder(2));
  check_chain(*steps, ps, 0.5);
}

// The MGRIT solver calls different layers from its own threads; results must equal serial calls.
TEST(OdeStep, ConcurrentLayersMatchSerial) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(3);
  ParamStore<double> ps;
  auto steps = make_translation(ps, 2, 2, 0.1);
  const int N = steps->num_steps();
  const std::size_t n = steps->state_size(), np = ps.size();
  std::vector<std::vector<double>> u(N), ser(N), par(N), lser(N), lpar(N);
  std::vector<double> gser(np, 0.0), gpar(np, 0.0);
  for (int l = 0; l < N; ++l) {
    u[l] = random_vector(n, 80 + l);
    ser[l].resize(n);
    par[l].resize(n);
    lser[l].resize(n);
    lpar[l].resize(n);
  }
  const auto w = random_vector(n, 90);
  for (int l = 0; l < N; ++l) {
    steps->forward(l, 0.3, u[l].data(), ser[l].data(), nullptr);
    steps->backward(l, 0.3, u[l].data(), nullptr, w.data(), lser[l].data(),
                    gser.data() + steps->param_offset(l));
  }
#pragma omp parallel for schedule(static, 1) num_threads(3)
  for (int l = 0; l < N; ++l) {
    steps->forward(l, 0.3, u[l].data(), par[l].data(), nullptr);
    steps->backward(l, 0.3, u[l].data(), nullptr, w.data(), lpar[l].data(),
                    gpar.data() + steps->param_offset(l));
  }
  omp_set_num_threads(saved);
  for (int l = 0; l < N; ++l)
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_NEAR(par[l][i], ser[l][i], 1e-12 * (1 + std::abs(ser[l][i])));
      ASSERT_NEAR(lpar[l][i], lser[l][i], 1e-12 * (1 + std::abs(lser[l][i])));
    }
  for (std::size_t i = 0; i < np; ++i) ASSERT_NEAR(gpar[i], gser[i], 1e-12 * (1 + std::abs(gser[i])));
}

TEST(OdeStep, UserErrors) {
  ParamStore<double> ps;
  auto steps = make_gpt(ps, 2, 2, 3, false, 0);
  std::vector<double> u(steps->state_size()), v(u.size());
  EXPECT_THROW(steps->forward(2, 1.0, u.data(), v.data(), nullptr), Error);
  EXPECT_THROW(steps->tape_size(-1), Error);
  StepBatch b;
  b.B = 2;
  b.T = 3;
  b.key_mask = {1, 1, 1, 0, 0, 0};  // second sequence all padding
  EXPECT_THROW(steps->set_batch(b), Error);
  b.key_mask = {1, 1, 1, 0, 1, 1};  // leading padding under a causal mask
  EXPECT_THROW(steps->set_batch(b), Error);
  b.key_mask = {1, 1};  // wrong size
  EXPECT_THROW(steps->set_batch(b), Error);
  ParamStore<double> empty;
  empty.finalize();
  TransformerStepsConfig cfg;
  cfg.dims = {6, 2, 10};
  cfg.layers = 1;
  EXPECT_THROW(TransformerSteps<double>(empty, cfg), Error);  // no layers.0.* parameters
  TranslationStepsConfig tcfg;
  tcfg.dims = {6, 4, 8};  // 6 % 4 != 0
  tcfg.enc_layers = tcfg.dec_layers = 1;
  EXPECT_THROW(TranslationSteps<double>(empty, tcfg), Error);
}

}  // namespace
