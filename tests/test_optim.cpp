// Optimizers, gradient clipping and learning-rate schedules: hand-computed steps, state round
// trips and, where torch imports, 20-step trajectories against torch.optim.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <sys/wait.h>

#include "optim/lr_schedule.hpp"
#include "optim/optim.hpp"
#include "model/params.hpp"
#include "util/error.hpp"

// Counts operator new calls so that a test can assert that step() allocates nothing.
namespace {
std::atomic<long> g_news{0};
}
// GCC cannot see that these replace the global pair and warns about malloc/free mismatches.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  ++g_news;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using lpt::AdamW;
using lpt::LrKind;
using lpt::LrSchedule;
using lpt::ParamGroup;
using lpt::SGD;

// A small problem with a parameter-dependent gradient g = c (p - t) + noise[s], so trajectories
// depend on every detail of the update. Values are fixed by a formula, not a RNG, so that the
// python side receives them verbatim.
struct Problem {
  std::size_t n = 13, split = 8, steps = 20;
  std::vector<double> p0, c, t, lrs;
  std::vector<std::vector<double>> noise;
  Problem() {
    for (std::size_t i = 0; i < n; ++i) {
      p0.push_back(std::sin(1.3 * i + 0.2) * (i % 3 == 0 ? 5.0 : 1.0));
      c.push_back(0.5 + 0.25 * (i % 4));
      t.push_back(std::cos(0.7 * i));
    }
    for (std::size_t s = 0; s < steps; ++s) {
      std::vector<double> row;
      for (std::size_t i = 0; i < n; ++i) row.push_back(0.3 * std::sin(2.1 * s + 0.9 * i));
      noise.push_back(row);
    }
    LrSchedule sched(LrKind::warmup_cosine, 0.05, 0.005, 4, static_cast<std::int64_t>(steps));
    for (std::size_t s = 0; s < steps; ++s) lrs.push_back(sched.lr(static_cast<std::int64_t>(s)));
  }
  template <class T>
  void grad(const std::vector<T>& p, std::size_t s, std::vector<T>& g) const {
    for (std::size_t i = 0; i < n; ++i)
      g[i] = static_cast<T>(c[i]) * (p[i] - static_cast<T>(t[i])) + static_cast<T>(noise[s][i]);
  }
};

struct Case {
  std::string name, opt, dtype;
  double wd = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, momentum = 0, dampening = 0;
  bool nesterov = false;
  double clip = 0;
};

std::vector<Case> cases() {
  std::vector<Case> cs;
  Case a;
  a.name = "adamw64"; a.opt = "adamw"; a.dtype = "float64"; a.wd = 0.1;
  a.beta1 = 0.8; a.beta2 = 0.95; a.eps = 1e-6; a.clip = 2.0;
  cs.push_back(a);
  Case a32 = a;
  a32.name = "adamw32"; a32.dtype = "float32";
  cs.push_back(a32);
  Case s;
  s.name = "sgd_momentum"; s.opt = "sgd"; s.dtype = "float64"; s.wd = 0.05; s.momentum = 0.9;
  s.dampening = 0.1;
  cs.push_back(s);
  Case nes = s;
  nes.name = "sgd_nesterov"; nes.dampening = 0; nes.nesterov = true;
  cs.push_back(nes);
  Case plain = s;
  plain.name = "sgd_plain"; plain.momentum = 0; plain.dampening = 0; plain.clip = 1.0;
  cs.push_back(plain);
  return cs;
}

template <class T>
std::unique_ptr<lpt::Optimizer<T>> make(const Case& c, std::size_t n, std::size_t split) {
  std::unique_ptr<lpt::Optimizer<T>> opt;
  if (c.opt == "adamw") {
    auto a = std::make_unique<AdamW<T>>(n);
    a->set_betas(c.beta1, c.beta2);
    a->set_eps(c.eps);
    opt = std::move(a);
  } else {
    auto s = std::make_unique<SGD<T>>(n);
    s->set_momentum(c.momentum);
    s->set_dampening(c.dampening);
    s->set_nesterov(c.nesterov);
    opt = std::move(s);
  }
  opt->set_weight_decay(c.wd);
  opt->set_groups({ParamGroup{split, n, 0.0}});
  return opt;
}

// Parameters after each step, and clip norms.
template <class T>
std::pair<std::vector<std::vector<double>>, std::vector<double>> run(const Problem& pr,
                                                                     const Case& c) {
  auto opt = make<T>(c, pr.n, pr.split);
  std::vector<T> p(pr.p0.begin(), pr.p0.end()), g(pr.n);
  std::vector<std::vector<double>> traj;
  std::vector<double> norms;
  for (std::size_t s = 0; s < pr.steps; ++s) {
    opt->set_lr(pr.lrs[s]);
    pr.grad(p, s, g);
    if (c.clip > 0) norms.push_back(lpt::clip_grad_norm(g.data(), pr.n, c.clip));
    opt->step(p.data(), g.data());
    traj.emplace_back(p.begin(), p.end());
  }
  return {traj, norms};
}

int shell(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool torch_available() {
  return shell(std::string(LPT_PYTHON) + " -c 'import torch' >/dev/null 2>&1") == 0;
}

// ---------------------------------------------------------------------------------------------
// Against torch.optim

TEST(OptimTorch, TrajectoriesAndSchedulesMatchTorch) {
  if (!torch_available()) GTEST_SKIP() << LPT_PYTHON << " cannot import torch";
  Problem pr;
  nlohmann::json in;
  in["p0"] = pr.p0;
  in["c"] = pr.c;
  in["t"] = pr.t;
  in["noise"] = pr.noise;
  in["lrs"] = pr.lrs;
  in["split"] = pr.split;
  for (const Case& c : cases())
    in["cases"].push_back({{"name", c.name}, {"opt", c.opt}, {"dtype", c.dtype}, {"wd", c.wd},
                           {"betas", {c.beta1, c.beta2}}, {"eps", c.eps},
                           {"momentum", c.momentum}, {"dampening", c.dampening},
                           {"nesterov", c.nesterov}, {"clip", c.clip}});
  const int S = 12, W = 5;
  const double lr = 0.2, lr_min = 0.02;
  in["schedules"] = {{"steps", S}, {"lr", lr}, {"lr_min", lr_min}, {"warmup", W}};

  const std::string dir = testing::TempDir();
  const std::string in_path = dir + "/lpt_optim_in.json", out_path = dir + "/lpt_optim_out.json";
  std::ofstream(in_path) << in.dump();
  const std::string cmd = std::string(LPT_PYTHON) + " " LPT_SOURCE_DIR
                          "/tests/torch_ref/optim_ref.py " + in_path + " " + out_path;
  ASSERT_EQ(shell(cmd), 0) << cmd;
  nlohmann::json out;
  std::ifstream(out_path) >> out;

  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const bool f32 = c.dtype == "float32";
    auto [traj, norms] = f32 ? run<float>(pr, c) : run<double>(pr, c);
    const auto ref = out[c.name]["traj"].get<std::vector<std::vector<double>>>();
    const double tol = f32 ? 2e-5 : 1e-12;
    ASSERT_EQ(ref.size(), traj.size());
    for (std::size_t s = 0; s < traj.size(); ++s)
      for (std::size_t i = 0; i < pr.n; ++i)
        ASSERT_NEAR(traj[s][i], ref[s][i], tol * (1 + std::abs(ref[s][i])))
            << "step " << s << " element " << i;
    const auto ref_norms = out[c.name]["norms"].get<std::vector<double>>();
    ASSERT_EQ(ref_norms.size(), norms.size());
    for (std::size_t s = 0; s < norms.size(); ++s)
      EXPECT_NEAR(norms[s], ref_norms[s], (f32 ? 1e-6 : 1e-12) * ref_norms[s]) << "step " << s;
    // The parameters moved far from p0: the comparison is not trivially satisfied.
    double moved = 0;
    for (std::size_t i = 0; i < pr.n; ++i) moved = std::max(moved, std::abs(traj.back()[i] - pr.p0[i]));
    EXPECT_GT(moved, 0.1);
  }

  const auto& sc = out["schedules"];
  LrSchedule cosine(LrKind::warmup_cosine, lr, lr_min, 0, S);
  LrSchedule linear(LrKind::warmup_linear, lr, lr_min, 0, S);
  LrSchedule warm(LrKind::constant, lr, 0.0, W, 0);
  for (int s = 0; s < S + 3; ++s) {
    // torch's CosineAnnealingLR rises again after T_max; ours holds lr_min there.
    if (s <= S) {
      EXPECT_NEAR(cosine.lr(s), sc["cosine"][s].get<double>(), 1e-14) << s;
    }
    EXPECT_NEAR(linear.lr(s), sc["linear"][s].get<double>(), 1e-14) << s;
    EXPECT_NEAR(warm.lr(s), sc["warmup"][s].get<double>(), 1e-14) << s;
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-computed steps

TEST(AdamW, FirstStepIsBiasCorrectedSignStep) {
  // At step 1, m̂ = g and v̂ = g², so the update is lr·g/(|g| + eps): about lr whatever |g|.
  AdamW<double> opt(3);
  opt.set_lr(0.1);
  opt.set_weight_decay(0.0);
  std::vector<double> p = {1.0, 1.0, 1.0}, g = {1e-3, -1e3, 2.0};
  opt.step(p.data(), g.data());
  for (int i = 0; i < 3; ++i)
    EXPECT_NEAR(p[i], 1.0 - 0.1 * g[i] / (std::abs(g[i]) + 1e-8), 1e-15) << i;
  EXPECT_NEAR(p[0], 0.9, 1e-6);
  EXPECT_NEAR(p[1], 1.1, 1e-6);
  EXPECT_EQ(opt.step_count(), 1);
}

TEST(AdamW, SecondStepByHand) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  AdamW<double> opt(1);
  opt.set_lr(lr);
  opt.set_weight_decay(wd);
  double p = 2.0;
  const double g1 = 0.5, g2 = -0.25;
  opt.step(&p, &g1);
  opt.step(&p, &g2);
  double q = 2.0, m = 0, v = 0;
  const double gs[2] = {g1, g2};
  for (int t = 1; t <= 2; ++t) {
    q *= 1 - lr * wd;
    m = b1 * m + (1 - b1) * gs[t - 1];
    v = b2 * v + (1 - b2) * gs[t - 1] * gs[t - 1];
    q -= lr / (1 - std::pow(b1, t)) * m / (std::sqrt(v / (1 - std::pow(b2, t))) + eps);
  }
  EXPECT_NEAR(p, q, 1e-14);
  EXPECT_NEAR(opt.state("m")[0], m, 1e-16);
  EXPECT_NEAR(opt.state("v")[0], v, 1e-16);
}

TEST(AdamW, WeightDecayIsDecoupledAndPerGroup) {
  // Zero gradient: only decay acts, p·(1 - lr·wd), and not at all inside a wd = 0 group.
  AdamW<double> opt(10);
  opt.set_lr(0.5);
  opt.set_weight_decay(0.2);
  opt.set_groups({{2, 4, 0.0}, {6, 7, 0.4}});
  std::vector<double> p(10, 3.0), g(10, 0.0);
  opt.step(p.data(), g.data());
  for (int i = 0; i < 10; ++i) {
    const double wd = (i == 2 || i == 3) ? 0.0 : (i == 6 ? 0.4 : 0.2);
    EXPECT_DOUBLE_EQ(opt.weight_decay_at(i), wd) << i;
    EXPECT_DOUBLE_EQ(p[i], 3.0 * (1 - 0.5 * wd)) << i;
  }
}

TEST(AdamW, FloatFollowsDouble) {
  Problem pr;
  Case c = cases()[0];
  auto d = run<double>(pr, c).first;
  auto f = run<float>(pr, c).first;
  for (std::size_t i = 0; i < pr.n; ++i) EXPECT_NEAR(f.back()[i], d.back()[i], 1e-4) << i;
}

TEST(SGD, PlainMomentumAndNesterovByHand) {
  const double lr = 0.1, mu = 0.9, wd = 0.01;
  const double g1 = 1.0, g2 = 2.0;
  {
    SGD<double> opt(1);
    opt.set_lr(lr);
    opt.set_weight_decay(wd);
    double p = 1.0;
    opt.step(&p, &g1);
    EXPECT_DOUBLE_EQ(p, 1.0 - lr * (g1 + wd * 1.0));
    EXPECT_TRUE(opt.state_names().empty());
  }
  for (bool nesterov : {false, true}) {
    SGD<double> opt(1);
    opt.set_lr(lr);
    opt.set_weight_decay(wd);
    opt.set_momentum(mu);
    opt.set_nesterov(nesterov);
    double p = 1.0;
    opt.step(&p, &g1);
    opt.step(&p, &g2);
    double q = 1.0, buf = 0;
    const double gs[2] = {g1, g2};
    for (int t = 0; t < 2; ++t) {
      const double d = gs[t] + wd * q;
      buf = t == 0 ? d : mu * buf + d;  // torch seeds the buffer with the first gradient
      q -= lr * (nesterov ? d + mu * buf : buf);
    }
    EXPECT_NEAR(p, q, 1e-15) << "nesterov " << nesterov;
    EXPECT_NEAR(opt.state("momentum_buffer")[0], buf, 1e-15);
  }
}

TEST(SGD, RejectsNesterovWithoutMomentum) {
  SGD<double> opt(4);
  EXPECT_THROW(opt.set_nesterov(true), lpt::Error);
  opt.set_momentum(0.9);
  opt.set_dampening(0.5);
  EXPECT_THROW(opt.set_nesterov(true), lpt::Error);
}

TEST(Optimizer, RejectsBadGroups) {
  AdamW<float> opt(10);
  EXPECT_THROW(opt.set_groups({{0, 5, 0.0}, {4, 8, 0.0}}), lpt::Error);  // overlap
  EXPECT_THROW(opt.set_groups({{8, 11, 0.0}}), lpt::Error);             // past the end
  EXPECT_THROW(opt.set_groups({{3, 3, 0.0}}), lpt::Error);              // empty
  EXPECT_THROW(opt.set_groups({{0, 3, -1.0}}), lpt::Error);             // negative decay
  EXPECT_THROW(opt.state("nope"), lpt::Error);
  EXPECT_THROW(opt.set_lr(-1.0), lpt::Error);
}

TEST(Optimizer, NoDecayGroupsExemptVectorsAndEmbeddings) {
  lpt::ParamStore<float> store;
  const int d = 8, V = 11;
  store.add("wte", {V, d});
  store.add("wpe", {5, d});
  for (const char* pre : {"layers.0.", "layers.1."}) {
    const std::string p = pre;
    store.add(p + "ln1_w", {d});
    store.add(p + "ln1_b", {d});
    store.add(p + "attn.qkv_w", {3 * d, d});
    store.add(p + "attn.qkv_b", {3 * d});
    store.add(p + "attn.proj_w", {d, d});
    store.add(p + "attn.proj_b", {d});
  }
  store.add("lnf_w", {d});
  store.add("lnf_b", {d});
  store.finalize();
  AdamW<float> opt(store.size());
  opt.set_weight_decay(0.1);
  const auto groups = lpt::no_decay_groups(store.entries());
  opt.set_groups(groups);
  // Runs: wte..layers.0.ln1_b, qkv_b, proj_b..layers.1.ln1_b, qkv_b, proj_b..lnf_b.
  EXPECT_EQ(groups.size(), 5u);
  for (const auto& e : store.entries()) {
    const bool exempt = e.shape.size() == 1 || e.name == "wte" || e.name == "wpe";
    EXPECT_EQ(lpt::exempt_from_decay(e.name, e.shape), exempt) << e.name;
    for (std::size_t i = e.offset; i < e.offset + e.numel; ++i)
      ASSERT_EQ(opt.weight_decay_at(i), exempt ? 0.0 : 0.1) << e.name << " element " << i;
  }
  EXPECT_FALSE(lpt::exempt_from_decay("patch_w", {8, 12}));
  EXPECT_TRUE(lpt::exempt_from_decay("pos", {17, 8}));
  EXPECT_TRUE(lpt::exempt_from_decay("cls", {8}));
}

// ---------------------------------------------------------------------------------------------
// Checkpoint state and allocation

template <class Opt>
void expect_bit_identical_resume(const std::function<std::unique_ptr<Opt>()>& make_opt) {
  Problem pr;
  std::vector<double> p(pr.p0), g(pr.n);
  auto a = make_opt();
  for (std::size_t s = 0; s < 10; ++s) {
    pr.grad(p, s, g);
    a->step(p.data(), g.data());
  }
  // Checkpoint: parameters, step count and every named state array.
  std::vector<double> p_ckpt = p;
  std::vector<std::vector<double>> st;
  for (const auto& name : a->state_names()) st.emplace_back(a->state(name), a->state(name) + pr.n);
  ASSERT_FALSE(st.empty());
  auto b = make_opt();
  b->set_step_count(a->step_count());
  for (std::size_t k = 0; k < st.size(); ++k)
    std::copy(st[k].begin(), st[k].end(), b->state(b->state_names()[k]));
  std::vector<double> q = p_ckpt;
  for (std::size_t s = 10; s < pr.steps; ++s) {
    pr.grad(p, s, g);
    a->step(p.data(), g.data());
    pr.grad(q, s, g);
    b->step(q.data(), g.data());
  }
  EXPECT_EQ(0, std::memcmp(p.data(), q.data(), pr.n * sizeof(double)));
  EXPECT_EQ(a->step_count(), b->step_count());
}

TEST(Optimizer, StateRoundTripResumesBitIdentically) {
  expect_bit_identical_resume<AdamW<double>>([] {
    auto o = std::make_unique<AdamW<double>>(13);
    o->set_lr(0.05);
    o->set_groups({{8, 13, 0.0}});
    return o;
  });
  expect_bit_identical_resume<SGD<double>>([] {
    auto o = std::make_unique<SGD<double>>(13);
    o->set_lr(0.05);
    o->set_momentum(0.9);
    o->set_weight_decay(0.01);
    return o;
  });
}

TEST(Optimizer, StepDoesNotAllocate) {
  const std::size_t n = 100000;  // large enough for the parallel path
  std::vector<float> p(n, 1.0f), g(n, 0.5f);
  AdamW<float> adam(n);
  adam.set_groups({{0, 10, 0.0}, {500, 90000, 0.0}});
  SGD<float> sgd(n);
  sgd.set_momentum(0.9);
  adam.step(p.data(), g.data());  // first call may start the OpenMP pool
  sgd.step(p.data(), g.data());
  const long before = g_news.load();
  for (int k = 0; k < 3; ++k) {
    adam.step(p.data(), g.data());
    sgd.step(p.data(), g.data());
    lpt::clip_grad_norm(g.data(), n, 1.0);
  }
  EXPECT_EQ(g_news.load(), before);
}

// ---------------------------------------------------------------------------------------------
// Clipping

TEST(Clip, ScalesToMaxNormAndReturnsNormBefore) {
  std::vector<double> g = {3.0, 4.0};
  EXPECT_DOUBLE_EQ(lpt::clip_grad_norm(g.data(), 2, 1.0), 5.0);
  EXPECT_DOUBLE_EQ(g[0], 3.0 / (5.0 + 1e-6));
  EXPECT_DOUBLE_EQ(g[1], 4.0 / (5.0 + 1e-6));
  std::vector<double> h = {3.0, 4.0};
  EXPECT_DOUBLE_EQ(lpt::clip_grad_norm(h.data(), 2, 10.0), 5.0);
  EXPECT_EQ(h[0], 3.0);  // below the threshold: untouched
  EXPECT_EQ(h[1], 4.0);
  EXPECT_THROW(lpt::clip_coefficient(1.0, 0.0), lpt::Error);
}

TEST(Clip, NormIsExactAndThreadCountIndependent) {
  for (std::size_t n : {1ul, 3ul, 255ul, 257ul, 100003ul}) {
    std::vector<float> g(n);
    double ref = 0;
    for (std::size_t i = 0; i < n; ++i) {
      g[i] = static_cast<float>(std::sin(0.37 * i) * (1 + i % 7));
      ref += static_cast<double>(g[i]) * g[i];
    }
    EXPECT_NEAR(lpt::grad_sq_norm(g.data(), n), ref, 1e-12 * ref) << n;
  }
}

TEST(Clip, NonFiniteNormLeavesGradients) {
  std::vector<double> g = {1.0, NAN, 2.0};
  EXPECT_TRUE(std::isnan(lpt::clip_grad_norm(g.data(), 3, 1.0)));
  EXPECT_EQ(g[0], 1.0);
  EXPECT_EQ(g[2], 2.0);
}

// ---------------------------------------------------------------------------------------------
// Schedules

TEST(LrSchedule, WarmupCosineEndpointsAndMonotonicity) {
  const int W = 10, S = 100;
  for (LrKind k : {LrKind::warmup_cosine, LrKind::warmup_linear}) {
    LrSchedule s(k, 1e-3, 1e-5, W, S);
    EXPECT_DOUBLE_EQ(s.lr(0), 1e-3 / W);  // first step: never zero
    EXPECT_DOUBLE_EQ(s.lr(W - 1), 1e-3);
    EXPECT_DOUBLE_EQ(s.lr(W), 1e-3);
    EXPECT_NEAR(s.lr((W + S) / 2), 0.5 * (1e-3 + 1e-5), 1e-15);  // midpoint of the decay
    EXPECT_DOUBLE_EQ(s.lr(S), 1e-5);
    EXPECT_DOUBLE_EQ(s.lr(S + 1000), 1e-5);
    for (int i = 1; i < W; ++i) EXPECT_GT(s.lr(i), s.lr(i - 1));
    for (int i = W + 1; i <= S; ++i) EXPECT_LT(s.lr(i), s.lr(i - 1));
  }
}

TEST(LrSchedule, ConstantAndErrors) {
  LrSchedule c(LrKind::constant, 0.1, 0.0, 0, 0);
  EXPECT_EQ(c.lr(0), 0.1);
  EXPECT_EQ(c.lr(123456), 0.1);
  LrSchedule w(LrKind::constant, 0.1, 0.0, 4, 0);
  EXPECT_DOUBLE_EQ(w.lr(0), 0.025);
  EXPECT_DOUBLE_EQ(w.lr(3), 0.1);
  EXPECT_EQ(lpt::parse_lr_kind("cosine"), LrKind::warmup_cosine);
  EXPECT_EQ(lpt::parse_lr_kind("linear"), LrKind::warmup_linear);
  EXPECT_THROW(lpt::parse_lr_kind("exp"), lpt::Error);
  EXPECT_THROW(LrSchedule(LrKind::warmup_cosine, 0.1, 0.2, 0, 10), lpt::Error);  // min > max
  // Warmup as long as the run (docs/config.md allows it): a ramp that never reaches the peak.
  const LrSchedule long_warmup(LrKind::warmup_linear, 0.1, 0.0, 10, 6);
  EXPECT_DOUBLE_EQ(long_warmup.lr(5), 0.06);
  EXPECT_DOUBLE_EQ(long_warmup.lr(10), 0.0);
  EXPECT_THROW(c.lr(-1), lpt::Error);
}

}  // namespace
