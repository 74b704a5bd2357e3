// Full-model gradient checks of the four families against central finite differences (float64),
// on tiny configs with odd sizes, padding, dropout, label smoothing and h != 1; float32 against
// float64 forward; shape errors; greedy decoding.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/optim.hpp"
#include "train/train_step.hpp"
#include "tests/gradcheck.hpp"
#include "tests/test_family_util.hpp"

namespace lpt::test {
namespace {

// d loss / d every parameter (padding included: both sides are 0 there).
GradCheckResult check_all(FamilyCase<double>& c) {
  TrainStep<double> ts(*c.model, nullptr);
  ts.forward_backward();
  ParamStore<double>& p = c.model->params();
  std::vector<double> g(p.grads(), p.grads() + p.size());
  return grad_check(p.values(), p.size(), g, [&] { return ts.loss(); });
}

struct Named {
  const char* name;
  TinySpec spec;
};

std::vector<Named> specs() {
  std::vector<Named> v;
  auto add = [&](const char* n, TinySpec s) { v.push_back({n, s}); };
  TinySpec s;
  s.family = "gpt";
  add("gpt_d6_h3", s);
  { TinySpec t = s; t.d = 5; t.H = 1; t.B = 1; t.T = 1; t.L = 1; add("gpt_one_head_seq1_batch1", t); }
  { TinySpec t = s; t.d = 10; t.H = 2; t.h = 0.25; t.smoothing = 0.1; add("gpt_h025_smoothing", t); }
  { TinySpec t = s; t.dropout = 0.3; add("gpt_dropout", t); }
  { TinySpec t = s; t.edge_before = 1; t.edge_after = 2; t.h = 0.5; t.dropout = 0.2;
    add("gpt_edge_layers_dropout", t); }
  s.family = "bert";
  add("bert_padding", s);
  { TinySpec t = s; t.d = 7; t.H = 1; t.B = 1; t.T = 1; t.padding = false; add("bert_seq1", t); }
  { TinySpec t = s; t.dropout = 0.25; t.smoothing = 0.2; add("bert_dropout_smoothing", t); }
  { TinySpec t = s; t.edge_before = 1; t.edge_after = 1; add("bert_edge_layers", t); }
  s.family = "bert_cls";
  add("bert_cls_padding", s);
  { TinySpec t = s; t.d = 5; t.H = 1; t.B = 3; t.T = 1; t.padding = false; add("bert_cls_seq1", t); }
  { TinySpec t = s; t.dropout = 0.25; t.smoothing = 0.2; t.h = 0.5; add("bert_cls_dropout_smoothing", t); }
  { TinySpec t = s; t.edge_before = 1; t.edge_after = 1; add("bert_cls_edge_layers", t); }
  s.family = "vit";
  { TinySpec t = s; t.H = 2; add("vit", t); }
  { TinySpec t = s; t.d = 3; t.H = 1; t.B = 1; t.h = 0.5; t.dropout = 0.2; add("vit_dropout_h05", t); }
  { TinySpec t = s; t.edge_before = 2; t.edge_after = 0; t.h = 0.25; add("vit_edge_layers", t); }
  s.family = "mt";
  { TinySpec t = s; t.T = 5; t.T2 = 3; t.smoothing = 0.1; add("mt_padding_ts5_tt3", t); }
  { TinySpec t = s; t.d = 5; t.H = 1; t.B = 1; t.T = 1; t.T2 = 2; t.L = 1; t.padding = false;
    add("mt_ts1", t); }
  { TinySpec t = s; t.dropout = 0.2; t.h = 0.5; add("mt_dropout", t); }
  return v;
}

class FamilyGrad : public ::testing::TestWithParam<Named> {};

TEST_P(FamilyGrad, MatchesFiniteDifferences) {
  FamilyCase<double> c = make_case<double>(GetParam().spec);
  const GradCheckResult r = check_all(c);
  EXPECT_LT(r.rel_error, 1e-6) << GetParam().name << " |g| = " << r.norm;
  EXPECT_GT(r.norm, 1e-3) << "gradient suspiciously small: the check would prove nothing";
}

INSTANTIATE_TEST_SUITE_P(Tiny, FamilyGrad, ::testing::ValuesIn(specs()),
                         [](const auto& i) { return std::string(i.param.name); });

// The float32 model gives the float64 loss and gradients to float32 round-off.
TEST(Family, FloatMatchesDouble) {
  for (const char* fam : {"gpt", "bert", "bert_cls", "vit", "mt"}) {
    TinySpec s;
    s.family = fam;
    FamilyCase<double> cd = make_case<double>(s);
    FamilyCase<float> cf = make_case<float>(s);
    auto& pd = cd.model->params();
    auto& pf = cf.model->params();
    for (std::size_t i = 0; i < pd.size(); ++i) pf.values()[i] = float(pd.values()[i]);
    for (std::size_t i = 0; i < pd.size(); ++i) pd.values()[i] = double(pf.values()[i]);
    TrainStep<double> td(*cd.model, nullptr);
    TrainStep<float> tf(*cf.model, nullptr);
    const double ld = td.forward_backward(), lf = tf.forward_backward();
    EXPECT_NEAR(lf, ld, 1e-5 * std::abs(ld)) << fam;
    double d2 = 0, n2 = 0;
    for (std::size_t i = 0; i < pd.size(); ++i) {
      const double e = double(pf.grads()[i]) - pd.grads()[i];
      d2 += e * e;
      n2 += pd.grads()[i] * pd.grads()[i];
    }
    EXPECT_LT(std::sqrt(d2 / n2), 1e-4) << fam;
  }
}

TEST(Family, ParameterLayoutFollowsTheContract) {
  TinySpec s;
  s.family = "mt";
  FamilyCase<double> c = make_case<double>(s);
  auto& p = c.model->params();
  EXPECT_EQ(p.entry("dec.1.cross.kv_w").shape, (std::vector<int>{12, 6}));
  EXPECT_EQ(p.entry("src_wpe").shape, (std::vector<int>{s.T + 1, 6}));
  // Layers are contiguous and in time order, the opening before and the closing after them.
  auto& st = c.model->steps();
  for (int n = 0; n + 1 < st.num_steps(); ++n)
    EXPECT_EQ(st.param_offset(n) + st.param_count(n), st.param_offset(n + 1));
  EXPECT_GT(st.param_offset(0), p.entry("tgt_wpe").offset);
  EXPECT_GT(p.entry("lnf_w").offset, st.param_offset(st.num_steps() - 1));
  // Every tensor, value and gradient, starts on a cache line (params.hpp promises it).
  for (const ParamEntry& e : p.entries()) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p.value(e.name)) % 64, 0u) << e.name;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p.grad(e.name)) % 64, 0u) << e.name;
  }
}

// A model split over ranks (ModelConfig::roles): a rank allocates its owned tensors first, then
// ghost copies, and nothing of the others; init draws exactly the whole model's values there; a
// held layer steps as in the whole model, an absent one refuses with a clear error.
TEST(Family, SplitModelAllocatesOnlyWhatTheRankHolds) {
  TinySpec s;
  s.family = "gpt";
  s.L = 4;
  FamilyCase<double> whole = make_case<double>(s);
  ModelConfig cfg = whole.cfg;
  cfg.roles = [](const std::string& name) {
    if (name.rfind("layers.1.", 0) == 0 || name.rfind("layers.2.", 0) == 0) return ParamRole::owned;
    if (name.rfind("layers.3.", 0) == 0) return ParamRole::ghost;
    return ParamRole::absent;
  };
  auto part = make_model<double>("gpt", cfg);
  whole.model->init(7);
  part->init(7);
  const ParamStore<double>& w = whole.model->params();
  const ParamStore<double>& p = part->params();
  OdeStep<double>& ws = whole.model->steps();
  OdeStep<double>& ps = part->steps();
  EXPECT_TRUE(p.distributed());
  EXPECT_EQ(p.size(), ws.param_count(1) + ws.param_count(2));
  EXPECT_EQ(p.storage_size(), p.size() + ws.param_count(3));
  EXPECT_EQ(p.global_size(), w.size());
  for (const ParamEntry& e : p.entries()) {
    const ParamEntry& f = w.entry(e.name);
    EXPECT_EQ(e.global_offset, f.offset) << e.name;
    if (!e.present()) continue;
    EXPECT_EQ(e.owned(), e.offset < p.size()) << e.name;
    for (std::size_t i = 0; i < e.numel; ++i)
      ASSERT_EQ(p.values()[e.offset + i], w.values()[f.offset + i]) << e.name << "[" << i << "]";
  }
  EXPECT_FALSE(ps.holds_layer(0));
  EXPECT_TRUE(ps.holds_layer(3));
  EXPECT_EQ(ps.param_count(0), ws.param_count(0));  // sizes known everywhere
  EXPECT_EQ(ps.param_offset(1), 0u);
  // Layer 2 steps as in the whole model.
  GptModel<double>& g = static_cast<GptModel<double>&>(*part);
  g.set_batch(whole.gpt);
  const std::size_t n = ps.state_size();
  std::vector<double> u(n), a(n), b(n);
  for (std::size_t i = 0; i < n; ++i) u[i] = std::sin(0.1 * double(i));
  ws.forward(2, 1.0, u.data(), a.data(), nullptr);
  ps.forward(2, 1.0, u.data(), b.data(), nullptr);
  EXPECT_EQ(a, b);
  try {
    ps.forward(0, 1.0, u.data(), b.data(), nullptr);
    FAIL() << "an absent layer stepped";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not on this rank"), std::string::npos) << e.what();
  }
  EXPECT_THROW(p.value("wte"), Error);
  // The optimizer's decay groups lie in the owned part.
  for (const ParamGroup& gr : no_decay_groups(p.entries())) EXPECT_LE(gr.end, p.size());
}

// Edge layers are ordinary transformer layers: a GPT of 2 chain layers at h = 1 with one edge
// layer before and one after computes the loss and gradients of a 4-layer GPT at h = 1 whose
// layers hold the same values (edge.0, layers.0, layers.1, edge.1), bit for bit.
TEST(Family, EdgeLayersAreOrdinaryLayersAroundTheChain) {
  TinySpec s;
  s.family = "gpt";
  s.L = 4;
  FamilyCase<double> plain = make_case<double>(s);
  TinySpec e = s;
  e.L = 2;
  e.edge_before = e.edge_after = 1;
  FamilyCase<double> edged = make_case<double>(e);
  ParamStore<double>& a = plain.model->params();
  ParamStore<double>& b = edged.model->params();
  auto same = [&](const std::string& from, const std::string& to) {
    for (const ParamEntry& x : b.entries())
      if (x.name.rfind(to, 0) == 0) {
        const std::string y = from + x.name.substr(to.size());
        std::copy(a.value(y), a.value(y) + x.numel, b.value(x.name));
      }
  };
  for (const char* t : {"wte", "wpe", "lnf_w", "lnf_b"}) same(t, t);
  same("layers.0.", "edge.0.");
  same("layers.1.", "layers.0.");
  same("layers.2.", "layers.1.");
  same("layers.3.", "edge.1.");
  TrainStep<double> ta(*plain.model, nullptr), tb(*edged.model, nullptr);
  EXPECT_EQ(ta.forward_backward(), tb.forward_backward());
  auto grad = [](ParamStore<double>& p, const std::string& n) {
    return std::vector<double>(p.grad(n), p.grad(n) + p.entry(n).numel);
  };
  EXPECT_EQ(grad(a, "wte"), grad(b, "wte"));
  EXPECT_EQ(grad(a, "layers.0.attn.qkv_w"), grad(b, "edge.0.attn.qkv_w"));
  EXPECT_EQ(grad(a, "layers.2.mlp.fc_w"), grad(b, "layers.1.mlp.fc_w"));
  EXPECT_EQ(grad(a, "layers.3.ln2_w"), grad(b, "edge.1.ln2_w"));
  EXPECT_EQ(edged.model->steps().num_steps(), 2);  // MGRIT sees the chain only
}

TEST(Family, BatchErrorsNameTheProblem) {
  TinySpec s;
  s.family = "gpt";
  FamilyCase<double> c = make_case<double>(s);
  auto& gpt = static_cast<GptModel<double>&>(*c.model);
  GptBatch b = c.gpt;
  b.tokens[3] = 99;
  try {
    gpt.set_batch(b);
    FAIL() << "an out-of-vocabulary token must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokens[3] = 99"), std::string::npos) << e.what();
  }
  GptBatch longer;
  longer.shape(1, 50);
  EXPECT_THROW(gpt.set_batch(longer), Error);
  GptBatch none = c.gpt;
  for (auto& t : none.targets) t = kIgnoreIndex;
  EXPECT_THROW(gpt.set_batch(none), Error);

  s.family = "vit";
  FamilyCase<double> v = make_case<double>(s);
  VitBatch wrong;
  wrong.shape(1, 3, 4, 6);
  EXPECT_THROW(static_cast<VitModel<double>&>(*v.model).set_batch(wrong), Error);
  EXPECT_THROW(make_model<double>("llama", ModelConfig{}), Error);

  s.family = "bert_cls";
  FamilyCase<double> k = make_case<double>(s);
  auto& cls = static_cast<BertClassifier<double>&>(*k.model);
  TextClassBatch bad = k.cls;
  bad.labels[1] = 4;  // n_classes = 4
  try {
    cls.set_batch(bad);
    FAIL() << "a label >= n_classes must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("labels[1] = 4"), std::string::npos) << e.what();
  }
  TextClassBatch empty_row = k.cls;
  for (int t = 0; t < empty_row.T; ++t) empty_row.key_mask[t] = 0;
  try {
    cls.set_batch(empty_row);
    FAIL() << "a row without a real token must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 0 has no real token"), std::string::npos) << e.what();
  }
}

TEST(Family, InitIsDeterministicAndGpt2Style) {
  ModelConfig m;
  m.d_model = 16, m.heads = 2, m.d_ff = 32, m.layers = 8, m.vocab = 50, m.max_len = 8;
  GptModel<double> a(m), b(m);
  a.init(7);
  b.init(7);
  auto& pa = a.params();
  for (std::size_t i = 0; i < pa.size(); ++i) ASSERT_EQ(pa.values()[i], b.params().values()[i]);
  auto stdev = [&](const char* name) {
    const auto& e = pa.entry(name);
    double s = 0;
    for (std::size_t i = 0; i < e.numel; ++i) s += pa.values()[e.offset + i] * pa.values()[e.offset + i];
    return std::sqrt(s / e.numel);
  };
  EXPECT_NEAR(stdev("wte"), 0.02, 0.002);
  EXPECT_NEAR(stdev("layers.0.attn.qkv_w"), 0.02, 0.002);
  EXPECT_NEAR(stdev("layers.3.mlp.proj_w"), 0.02 / 4.0, 0.0006);  // 1/sqrt(2·8)
  EXPECT_EQ(pa.value("layers.2.ln1_w")[5], 1.0);
  EXPECT_EQ(pa.value("layers.2.ln1_b")[5], 0.0);
  EXPECT_EQ(pa.value("lnf_w")[0], 1.0);
  b.init(8);
  EXPECT_NE(pa.value("wte")[0], b.params().value("wte")[0]);
}

// The residual scale 1/sqrt(2N) counts the family's own ODE steps: depth fields of another family
// (the run config once passed enc/dec_layers 3 beside a GPT's layers, so a 4-layer GPT was
// initialized as if it had 10) change no value.
TEST(Family, InitScaleCountsOnlyTheFamilysOwnSteps) {
  ModelConfig m;
  m.d_model = 16, m.heads = 2, m.d_ff = 32, m.layers = 4, m.vocab = 50, m.max_len = 8;
  ModelConfig stray = m;
  stray.enc_layers = 3, stray.dec_layers = 3;
  GptModel<double> a(m), b(stray);
  a.init(3);
  b.init(3);
  EXPECT_EQ(a.ode_steps(), 4);
  EXPECT_EQ(b.ode_steps(), 4);
  for (std::size_t i = 0; i < a.params().size(); ++i) {
    ASSERT_EQ(a.params().values()[i], b.params().values()[i]) << "parameter value " << i;
  }

  const ModelConfig mt = chain_mt_config();
  ModelConfig mt_stray = mt;
  mt_stray.layers = 4;
  auto x = make_model<double>("mt", mt), y = make_model<double>("mt", mt_stray);
  x->init(3);
  y->init(3);
  EXPECT_EQ(y->ode_steps(), mt.enc_layers + mt.dec_layers);
  for (std::size_t i = 0; i < x->params().size(); ++i) {
    ASSERT_EQ(x->params().values()[i], y->params().values()[i]) << "parameter value " << i;
  }
}

// Greedy decoding reproduces the argmax of teacher-forced logits on its own output.
TEST(Family, GreedyDecodeIsConsistentWithTeacherForcing) {
  TinySpec s;
  s.family = "mt";
  s.B = 2, s.T = 4, s.T2 = 5;
  FamilyCase<double> c = make_case<double>(s);
  auto& mt = static_cast<MtModel<double>&>(*c.model);
  const int L = 4, bos = 1, eos = 2;
  const auto out = mt.greedy_decode(c.mt.src, c.mt.src_mask, s.B, s.T, L, bos, eos);
  ASSERT_EQ(out.size(), std::size_t(s.B) * L);
  MtBatch tf;
  tf.shape(s.B, s.T, L);
  tf.src = c.mt.src;
  tf.src_mask = c.mt.src_mask;
  for (int b = 0; b < s.B; ++b) {
    bool ended = false;  // positions after eos carry no target
    for (int t = 0; t < L; ++t) {
      tf.tgt_in[b * L + t] = t == 0 ? bos : out[b * L + t - 1];
      tf.tgt_out[b * L + t] = ended ? kIgnoreIndex : out[b * L + t];
      ended = ended || out[b * L + t] == eos;
    }
  }
  mt.set_batch(tf);
  TrainStep<double> ts(mt, nullptr);
  ts.loss();
  const double* lg = mt.logits();
  const int V = c.cfg.tgt_vocab;
  for (int b = 0; b < s.B; ++b)
    for (int t = 0; t < L; ++t) {
      if (t > 0 && out[b * L + t - 1] == eos) break;  // after eos the row is filler
      const double* row = lg + (std::size_t(b) * L + t) * V;
      EXPECT_EQ(std::max_element(row, row + V) - row, out[b * L + t]) << "b=" << b << " t=" << t;
    }
  EXPECT_EQ(mt.eval_counts().correct, mt.eval_counts().counted);
}

}  // namespace
}  // namespace lpt::test
