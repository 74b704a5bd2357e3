// One ODE step: h = 1 equals the standard pre-LN layer composed from the ops by hand; the VJP
// w.r.t. state and parameters matches central differences for every layer and mask kind; the
// recompute path equals the tape path bit for bit.
#include <gtest/gtest.h>

#include "model/blocks/ode_step_transformer.hpp"
#include "model/blocks/ode_step_translation.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/gelu.hpp"
#include "model/ops/layernorm.hpp"
#include "model/ops/linear.hpp"
#include "tests/test_block_util.hpp"

namespace {

using namespace lpt;
using lpt::test::random_vector;

struct EncCase {
  int B, T, d, H, dff;
  bool causal, pad;
  double dropout;
};

std::string describe(const EncCase& c) {
  std::ostringstream os;
  os << "B=" << c.B << " T=" << c.T << " d=" << c.d << " H=" << c.H << " dff=" << c.dff
     << " causal=" << c.causal << " pad=" << c.pad << " p=" << c.dropout;
  return os.str();
}

template <class T>
struct EncSetup {
  ParamStore<T> ps;
  std::unique_ptr<TransformerSteps<T>> steps;
  EncSetup(const EncCase& c, int layers, unsigned seed) {
    TransformerStepsConfig cfg;
    cfg.dims = {c.d, c.H, c.dff};
    cfg.layers = layers;
    cfg.causal = c.causal;
    cfg.dropout = c.dropout;
    for (int n = 0; n < layers; ++n)
      register_layer_params(ps, "layers." + std::to_string(n) + ".", cfg.dims, false);
    ps.finalize();
    test::fill_params(ps, seed);
    steps = std::make_unique<TransformerSteps<T>>(ps, cfg);
    StepBatch b;
    b.B = c.B;
    b.T = c.T;
    if (c.pad) b.key_mask = test::tail_mask(c.B, c.T);
    b.dropout_seed = 7;
    b.dropout_step = 3;
    steps->set_batch(b);
  }
};

// The standard pre-LN layer written out with the ops: x + attn(LN1 x) then + MLP(LN2 ·).
std::vector<double> reference_encoder_layer(ParamStore<double>& ps, const std::string& pre,
                                            const std::vector<double>& u, const EncCase& c) {
  const int N = c.B * c.T, d = c.d, f = c.dff;
  auto P = [&](const char* n) { return ps.value(pre + n); };
  std::vector<double> ln(N * d), mean(N), rstd(N), qkv(N * 3 * d), att(N * d), probs(c.B * c.H * c.T * c.T),
      a(N * d), x1(N * d), fc(N * f), g(N * f), m(N * d), out(N * d);
  const auto mask = test::tail_mask(c.B, c.T);
  ops::layernorm_forward(ln.data(), mean.data(), rstd.data(), u.data(), P("ln1_w"), P("ln1_b"), N, d);
  ops::linear_forward(qkv.data(), ln.data(), P("attn.qkv_w"), P("attn.qkv_b"), N, d, 3 * d);
  ops::attention_forward(att.data(), probs.data(), qkv.data(), c.pad ? mask.data() : nullptr, c.B,
                         c.T, d, c.H, c.causal);
  ops::linear_forward(a.data(), att.data(), P("attn.proj_w"), P("attn.proj_b"), N, d, d);
  for (int i = 0; i < N * d; ++i) x1[i] = u[i] + a[i];
  ops::layernorm_forward(ln.data(), mean.data(), rstd.data(), x1.data(), P("ln2_w"), P("ln2_b"), N, d);
  ops::linear_forward(fc.data(), ln.data(), P("mlp.fc_w"), P("mlp.fc_b"), N, d, f);
  ops::gelu_forward(g.data(), fc.data(), std::size_t(N) * f);
  ops::linear_forward(m.data(), g.data(), P("mlp.proj_w"), P("mlp.proj_b"), N, f, d);
  for (int i = 0; i < N * d; ++i) out[i] = x1[i] + m[i];
  return out;
}

TEST(Block, EncoderUnitStepIsStandardPreLNLayer) {
  for (const EncCase& c : {EncCase{2, 5, 8, 2, 12, true, false, 0}, EncCase{3, 4, 6, 3, 10, false, true, 0},
                           EncCase{1, 1, 5, 1, 7, false, false, 0}}) {
    SCOPED_TRACE(describe(c));
    EncSetup<double> s(c, 2, 5);
    const auto u = random_vector(s.steps->state_size(), 9);
    std::vector<double> out(u.size());
    s.steps->forward(1, 1.0, u.data(), out.data(), nullptr);
    const auto ref = reference_encoder_layer(s.ps, "layers.1.", u, c);
    for (std::size_t i = 0; i < u.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-12) << i;
  }
}

TEST(Block, EncoderGradientsEveryMaskKind) {
  const EncCase cases[] = {
      {2, 5, 8, 2, 12, true, false, 0},   // GPT
      {3, 4, 6, 3, 10, false, true, 0},   // BERT
      {2, 3, 8, 4, 16, false, false, 0},  // ViT
      {3, 4, 8, 2, 8, true, true, 0},     // causal + padding
      {2, 4, 6, 2, 9, true, true, 0.3},   // dropout
      {1, 1, 5, 1, 7, false, false, 0},   // T = 1, d = 5, one head
      {1, 6, 6, 3, 5, true, false, 0.2},  // B = 1
  };
  for (const EncCase& c : cases) {
    SCOPED_TRACE(describe(c));
    EncSetup<double> s(c, 3, 17);
    for (int layer : {0, 2}) {
      const auto [es, ep] = test::check_step(*s.steps, s.ps, layer, 0.37, 100 + layer);
      EXPECT_LT(es, 1e-6) << "state, layer " << layer;
      EXPECT_LT(ep, 1e-6) << "params, layer " << layer;
    }
  }
}

TEST(Block, DropoutIsDeterministicPerStepAndChangesWithStep) {
  EncCase c{2, 4, 8, 2, 12, true, false, 0.5};
  EncSetup<double> s(c, 1, 3);
  const auto u = random_vector(s.steps->state_size(), 4);
  std::vector<double> o1(u.size()), o2(u.size()), o3(u.size());
  s.steps->forward(0, 1.0, u.data(), o1.data(), nullptr);
  s.steps->forward(0, 1.0, u.data(), o2.data(), nullptr);
  EXPECT_EQ(o1, o2);
  StepBatch b = s.steps->batch();
  b.dropout_step += 1;
  s.steps->set_batch(b);
  s.steps->forward(0, 1.0, u.data(), o3.data(), nullptr);
  EXPECT_NE(o1, o3);
  b.train = false;  // evaluation: p has no effect, equals a p = 0 chain
  s.steps->set_batch(b);
  s.steps->forward(0, 1.0, u.data(), o3.data(), nullptr);
  EncCase c0 = c;
  c0.dropout = 0;
  EncSetup<double> s0(c0, 1, 3);
  s0.steps->forward(0, 1.0, u.data(), o2.data(), nullptr);
  EXPECT_EQ(o2, o3);
}

// Tape and recompute must agree bit for bit, in float at sizes that take Eigen's blocked GEMM.
template <class T, class Steps>
void expect_tape_equals_recompute(Steps& steps, int layer, T h) {
  const std::size_t n = steps.state_size(), np = steps.param_count(layer);
  const auto u64 = random_vector(n, 51), w64 = random_vector(n, 52);
  test::Aligned<T> u(n), w(n), out(n), tape(steps.tape_size(layer));
  std::copy(u64.begin(), u64.end(), u.data());
  std::copy(w64.begin(), w64.end(), w.data());
  steps.forward(layer, h, u.data(), out.data(), tape.data());
  test::Aligned<T> l1(n), l2(n), g1(np), g2(np);
  steps.backward(layer, h, u.data(), tape.data(), w.data(), l1.data(), g1.data());
  steps.backward(layer, h, u.data(), nullptr, w.data(), l2.data(), g2.data());
  EXPECT_TRUE(std::equal(l1.data(), l1.data() + n, l2.data()));
  EXPECT_TRUE(std::equal(g1.data(), g1.data() + np, g2.data()));
  // In place (u_next = u, lam = lam_next) gives the same numbers.
  test::Aligned<T> v(n), l3(n);
  std::copy(u.data(), u.data() + n, v.data());
  steps.forward(layer, h, v.data(), v.data(), nullptr);
  EXPECT_TRUE(std::equal(out.data(), out.data() + n, v.data()));
  std::copy(w.data(), w.data() + n, l3.data());
  steps.backward(layer, h, u.data(), nullptr, l3.data(), l3.data(), nullptr);
  EXPECT_TRUE(std::equal(l1.data(), l1.data() + n, l3.data()));
}

TEST(Block, EncoderTapeEqualsRecompute) {
  EncCase c{2, 24, 32, 4, 64, true, true, 0.1};
  EncSetup<float> s(c, 2, 8);
  expect_tape_equals_recompute<float>(*s.steps, 1, 0.25f);
}

// float32 (training) against float64 (checks) on the same weights and inputs.
TEST(Block, FloatStepMatchesDouble) {
  const EncCase c{2, 12, 16, 4, 32, true, true, 0.1};
  EncSetup<double> s64(c, 2, 13);
  EncSetup<float> s32(c, 2, 13);
  for (std::size_t i = 0; i < s64.ps.size(); ++i) s32.ps.values()[i] = float(s64.ps.values()[i]);
  const std::size_t n = s64.steps->state_size(), np = s64.steps->param_count(1);
  const auto u = random_vector(n, 14), w = random_vector(n, 15);
  std::vector<float> u32(u.begin(), u.end()), w32(w.begin(), w.end()), o32(n), l32(n), g32(np, 0.f);
  std::vector<double> o64(n), l64(n), g64(np, 0.0);
  s64.steps->forward(1, 0.5, u.data(), o64.data(), nullptr);
  s64.steps->backward(1, 0.5, u.data(), nullptr, w.data(), l64.data(), g64.data());
  s32.steps->forward(1, 0.5f, u32.data(), o32.data(), nullptr);
  s32.steps->backward(1, 0.5f, u32.data(), nullptr, w32.data(), l32.data(), g32.data());
  auto rel = [](const auto& a, const std::vector<double>& b) {
    double e = 0, m = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      e += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
      m += b[i] * b[i];
    }
    return std::sqrt(e / m);
  };
  EXPECT_LT(rel(o32, o64), 1e-5);
  EXPECT_LT(rel(l32, l64), 1e-5);
  EXPECT_LT(rel(g32, g64), 1e-4);
}

// ---- translation layers -------------------------------------------------------------------

struct TrCase {
  int B, Ts, Tt, d, H, dff;
  bool pad;
  double dropout;
};

template <class T>
struct TrSetup {
  ParamStore<T> ps;
  std::unique_ptr<TranslationSteps<T>> steps;
  TrSetup(const TrCase& c, int ne, int nd, unsigned seed) {
    TranslationStepsConfig cfg;
    cfg.dims = {c.d, c.H, c.dff};
    cfg.enc_layers = ne;
    cfg.dec_layers = nd;
    cfg.dropout = c.dropout;
    for (int n = 0; n < ne; ++n) register_layer_params(ps, "enc." + std::to_string(n) + ".", cfg.dims, false);
    for (int k = 0; k < nd; ++k) register_layer_params(ps, "dec." + std::to_string(k) + ".", cfg.dims, true);
    ps.finalize();
    test::fill_params(ps, seed);
    steps = std::make_unique<TranslationSteps<T>>(ps, cfg);
    StepBatch b;
    b.B = c.B;
    b.T = c.Ts;
    b.T_tgt = c.Tt;
    if (c.pad) b.key_mask = test::tail_mask(c.B, c.Ts);
    b.dropout_seed = 11;
    steps->set_batch(b);
  }
};

TEST(Block, DecoderUnitStepIsStandardPreLNLayer) {
  const TrCase c{2, 5, 3, 8, 2, 12, true, 0};
  TrSetup<double> s(c, 1, 1, 21);
  const std::size_t nx = s.steps->source_size();
  const auto z = random_vector(s.steps->state_size(), 22);
  std::vector<double> out(z.size());
  s.steps->forward(1, 1.0, z.data(), out.data(), nullptr);
  for (std::size_t i = 0; i < nx; ++i) ASSERT_EQ(out[i], z[i]);  // memory is not moved

  const int N = c.B * c.Tt, M = c.B * c.Ts, d = c.d, f = c.dff;
  auto P = [&](const char* n) { return s.ps.value(std::string("dec.0.") + n); };
  const auto mask = test::tail_mask(c.B, c.Ts);
  const double* y = z.data() + nx;
  std::vector<double> ln(N * d), mean(N + M), rstd(N + M), qkv(N * 3 * d), att(N * d),
      probs(c.B * c.H * c.Tt * std::max(c.Tt, c.Ts)), a(N * d), x1(N * d), q(N * d),
      lnkv(M * d), kv(M * 2 * d), b(N * d), x2(N * d), fc(N * f), g(N * f), m(N * d);
  ops::layernorm_forward(ln.data(), mean.data(), rstd.data(), y, P("ln1_w"), P("ln1_b"), N, d);
  ops::linear_forward(qkv.data(), ln.data(), P("attn.qkv_w"), P("attn.qkv_b"), N, d, 3 * d);
  ops::attention_forward(att.data(), probs.data(), qkv.data(), nullptr, c.B, c.Tt, d, c.H, true);
  ops::linear_forward(a.data(), att.data(), P("attn.proj_w"), P("attn.proj_b"), N, d, d);
  for (int i = 0; i < N * d; ++i) x1[i] = y[i] + a[i];
  ops::layernorm_forward(ln.data(), mean.data(), rstd.data(), x1.data(), P("lnq_w"), P("lnq_b"), N, d);
  ops::linear_forward(q.data(), ln.data(), P("cross.q_w"), P("cross.q_b"), N, d, d);
  ops::layernorm_forward(lnkv.data(), mean.data(), rstd.data(), z.data(), P("lnkv_w"), P("lnkv_b"), M, d);
  ops::linear_forward(kv.data(), lnkv.data(), P("cross.kv_w"), P("cross.kv_b"), M, d, 2 * d);
  ops::cross_attention_forward(att.data(), probs.data(), q.data(), kv.data(), mask.data(), c.B, c.Tt,
                               c.Ts, d, c.H);
  ops::linear_forward(b.data(), att.data(), P("cross.proj_w"), P("cross.proj_b"), N, d, d);
  for (int i = 0; i < N * d; ++i) x2[i] = x1[i] + b[i];
  ops::layernorm_forward(ln.data(), mean.data(), rstd.data(), x2.data(), P("ln2_w"), P("ln2_b"), N, d);
  ops::linear_forward(fc.data(), ln.data(), P("mlp.fc_w"), P("mlp.fc_b"), N, d, f);
  ops::gelu_forward(g.data(), fc.data(), std::size_t(N) * f);
  ops::linear_forward(m.data(), g.data(), P("mlp.proj_w"), P("mlp.proj_b"), N, f, d);
  for (int i = 0; i < N * d; ++i) ASSERT_NEAR(out[nx + i], x2[i] + m[i], 1e-12) << i;
}

TEST(Block, TranslationLayerGradients) {
  const TrCase cases[] = {
      {2, 5, 3, 8, 2, 12, true, 0},
      {1, 1, 4, 6, 3, 5, false, 0},   // source length 1
      {3, 4, 1, 5, 1, 7, true, 0.3},  // target length 1, d = 5, dropout
      {2, 3, 6, 6, 2, 10, true, 0.1},
  };
  for (const TrCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << "B=" << c.B << " Ts=" << c.Ts << " Tt=" << c.Tt << " d=" << c.d
                                      << " H=" << c.H << " p=" << c.dropout);
    TrSetup<double> s(c, 2, 2, 31);
    for (int layer : {1, 2, 3}) {  // encoder, first and last decoder
      const auto [es, ep] = test::check_step(*s.steps, s.ps, layer, 0.61, 200 + layer);
      EXPECT_LT(es, 1e-6) << "state, layer " << layer;
      EXPECT_LT(ep, 1e-6) << "params, layer " << layer;
    }
  }
}

TEST(Block, DecoderTapeEqualsRecompute) {
  TrSetup<float> s({2, 20, 17, 32, 4, 48, true, 0.1}, 1, 1, 41);
  expect_tape_equals_recompute<float>(*s.steps, 1, 0.5f);
  expect_tape_equals_recompute<float>(*s.steps, 0, 0.5f);
}

}  // namespace
