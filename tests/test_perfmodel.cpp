// Limits of the analytical performance model (docs/perfmodel.md): hand-counted FLOPs, the P = 1
// overhead formula, the closed-form critical path on an ideal network, growth with depth, the
// profile loader's validation and the search's optimality over its grid.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <nlohmann/json.hpp>

#include "perfmodel/predict.hpp"
#include "perfmodel/search.hpp"
#include "perfmodel/step_model.hpp"
#include "util/error.hpp"

using namespace lpt::perf;
using lpt::Family;

namespace {

ModelShape small_gpt(int layers) {
  ModelShape s;
  s.family = Family::gpt;
  s.batch = 2;
  s.seq = 8;
  s.d = 16;
  s.heads = 2;
  s.d_ff = 64;
  s.vocab = 50;
  s.layers = layers;
  s.act_bytes = 4;
  return s;
}

// Per-layer times chosen to be distinct so that a formula mixing them up fails.
MeasuredLayerTimes measured_for(const ModelShape& s, double tf, double tb, double tg) {
  MeasuredLayerTimes m;
  m.batch = s.batch;
  m.seq = s.seq;
  m.d = s.d;
  m.heads = s.heads;
  m.d_ff = s.d_ff;
  m.forward_s = tf;
  m.vjp_state_s = tb;
  m.param_grad_s = tg;
  return m;
}

HardwareProfile shipped(const std::string& name) {
  return load_profile(resolve_profile_path(name));
}

// No latency, unbounded bandwidth, no launch overhead: only the step evaluations remain.
HardwareProfile ideal_network() {
  HardwareProfile h = shipped("h100_sxm");
  h.kernel_overhead_s = 0;
  h.memory_bandwidth = 1e300;
  h.intra_node = {0.0, 1e300};
  h.inter_node = {0.0, 1e300};
  return h;
}

MgritSettings two_level(int m, int kf, int kb) {
  MgritSettings s;
  s.levels = 2;
  s.cfactor = {m};
  s.fwd_iters = kf;
  s.bwd_iters = kb;
  return s;
}

// Critical path of a 2-level F-relaxation solve with skip on P ranks holding q = N/(mP) intervals
// each, ideal network: every iteration solves the coarse level (N/m steps) and injects its
// correction into the C-points; iterations 2..k add F-relaxation and restriction (one fine
// residual step + one coarse step per interval); the final sweep steps all m points of each
// interval once.
double two_level_closed_form(double N, double m, double P, double k, double t) {
  return k * N * t / m + (N * t / (m * P)) * ((k - 1) * (m + 1) + m);
}

}  // namespace

TEST(PerfModel, GptLayerFlopsMatchHandCount) {
  const ModelShape s = small_gpt(1);
  const double B = 2, T = 8, d = 16, H = 2, F = 64, BT = B * T;
  const LayerCost c = encoder_layer_cost(s, s.seq);
  // GEMMs: qkv 2·BT·d·3d, proj 2·BT·d·d, fc and fc2 2·BT·d·F each, scores and P·V 2·B·T²·d each.
  const double fwd_gemm = 2 * BT * d * 3 * d + 2 * BT * d * d + 2 * 2 * BT * d * F + 2 * 2 * B * T * T * d;
  EXPECT_DOUBLE_EQ(c.forward.gemm_flops(), fwd_gemm);
  EXPECT_DOUBLE_EQ(fwd_gemm, 106496.0);
  // Element-wise: 2 LayerNorms (8/elem), softmax (5 per score), GELU (10), u+a (1), update (3).
  const double fwd_elem = 2 * 8 * BT * d + 5 * B * H * T * T + 10 * BT * F + BT * d + 3 * BT * d;
  EXPECT_DOUBLE_EQ(c.forward.flops(), fwd_gemm + fwd_elem);
  EXPECT_EQ(c.forward.kernel_count(), 12);
  // State VJP: each weight GEMM once more (dX) and four T² GEMMs; parameter gradient: dW of each.
  EXPECT_DOUBLE_EQ(c.vjp_state.gemm_flops(), fwd_gemm - 2 * 2 * B * T * T * d + 4 * 2 * B * T * T * d);
  EXPECT_DOUBLE_EQ(c.param_grad.gemm_flops(), fwd_gemm - 2 * 2 * B * T * T * d);
  EXPECT_DOUBLE_EQ(c.params, 4 * d * d + 2 * d * F + F + 9 * d);
  EXPECT_DOUBLE_EQ(c.params, 3280.0);
  // LayerNorm streams its input and output once each.
  EXPECT_EQ(c.forward.kernels()[0].name, "ln1");
  EXPECT_DOUBLE_EQ(c.forward.kernels()[0].bytes, 2 * BT * d * 4);
  EXPECT_DOUBLE_EQ(state_bytes(s), BT * d * 4);
}

TEST(PerfModel, Gpt2SizeForwardFlopsMatchTheStandardFormula) {
  ModelShape s;  // defaults: GPT-2 small, B 8, T 1024
  const double BT = 8.0 * 1024, d = 768;
  const LayerCost c = encoder_layer_cost(s, s.seq);
  EXPECT_DOUBLE_EQ(c.forward.gemm_flops(), 24 * BT * d * d + 4 * BT * 1024 * d);
}

TEST(PerfModel, DecoderLayerAddsCrossAttention) {
  ModelShape s = small_gpt(4);
  s.family = Family::mt;
  s.enc_layers = 2;
  s.src_seq = 12;
  const LayerCost dec = decoder_layer_cost(s, s.seq, s.src_seq);
  const LayerCost enc = encoder_layer_cost(s, s.seq);
  const double B = 2, T = 8, Ts = 12, d = 16;
  // q and proj on T rows, kv on Ts rows, scores and P·V against Ts keys.
  const double cross = 2 * B * T * d * d * 2 + 2 * B * Ts * d * 2 * d + 2 * 2 * B * T * Ts * d;
  EXPECT_DOUBLE_EQ(dec.forward.gemm_flops(), enc.forward.gemm_flops() + cross);
  EXPECT_DOUBLE_EQ(dec.params, enc.params + 4 * d * d + 8 * d);
  EXPECT_DOUBLE_EQ(state_bytes(s), B * (T + Ts) * d * 4);
}

TEST(PerfModel, ShippedProfilesLoadAndNameTheirSources) {
  for (const char* n : {"h100_sxm", "a100_sxm", "cpu_epyc7763_hdr", "this_machine"}) {
    const HardwareProfile p = shipped(n);
    EXPECT_EQ(p.name, n);
    EXPECT_EQ(p.sources.size(), 11u) << n;
    EXPECT_GT(p.gemm_flops_bf16, 0) << n;
  }
  // The H100 is faster than the A100 in every figure the model uses.
  const HardwareProfile h = shipped("h100_sxm"), a = shipped("a100_sxm");
  EXPECT_GT(h.gemm_flops_bf16, a.gemm_flops_bf16);
  EXPECT_GT(h.memory_bandwidth, a.memory_bandwidth);
  EXPECT_GT(h.inter_node.bandwidth, a.inter_node.bandwidth);
}

TEST(PerfModel, ProfileLoaderNamesUnknownAndMissingKeys) {
  const nlohmann::json good = profile_to_json(shipped("a100_sxm"));
  auto message = [](const nlohmann::json& j) -> std::string {
    try {
      profile_from_json(j, "test.json");
    } catch (const lpt::Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(message(good), "");
  nlohmann::json extra = good;
  extra["gemm_flops_fp64"] = 1e12;
  EXPECT_NE(message(extra).find("unknown key 'gemm_flops_fp64'"), std::string::npos);
  nlohmann::json missing = good;
  missing.erase("memory_bandwidth");
  EXPECT_NE(message(missing).find("missing key 'memory_bandwidth'"), std::string::npos);
  nlohmann::json link = good;
  link["inter_node"].erase("latency_s");
  EXPECT_NE(message(link).find("inter_node: missing key 'latency_s'"), std::string::npos);
  nlohmann::json nosrc = good;
  nosrc["sources"].erase("intra_node.bandwidth");
  EXPECT_NE(message(nosrc).find("'intra_node.bandwidth'"), std::string::npos);
  nlohmann::json negative = good;
  negative["vector_flops"] = -1;
  EXPECT_NE(message(negative).find("'vector_flops' must be > 0"), std::string::npos);
  EXPECT_THROW(load_profile("/nonexistent/profile.json"), lpt::Error);
}

TEST(PerfModel, OneRankIsSerialPlusTheMgritOverhead) {
  const int N = 64, m = 4;
  const double tf = 1.0e-3, tb = 2.5e-3, tg = 0.7e-3;
  const ModelShape s = small_gpt(N);
  StepModel model(s, shipped("h100_sxm"));
  model.set_measured(measured_for(s, tf, tb, tg));
  model.set_serial_mode(SerialMode::store_tapes);
  const double vec = model.costs().vector_op_s;
  EXPECT_GT(vec, 0);
  for (int kf : {1, 2, 3})
    for (int kb : {1, 2}) {
      const Prediction p = model.predict(1, two_level(m, kf, kb));
      const double ta = tb + tf;  // the adjoint replays the forward (no stored tapes)
      // One solve with k iterations on one rank: k coarse solves (N/m steps each), (k-1)·
      // (F-relaxation + restriction) = (k-1)·N(1 + 1/m) steps, the final sweep's N steps. Vector
      // operations per interval, as solver/core.cpp does them: 2 in the skipped restriction, 1
      // per coarse solve (each coarse step's FAS rhs), 1 per injection, 6 per residual +
      // restriction, 3 for the final residual.
      auto solve = [&](int k, double t) {
        return t * N * (k / double(m) + (k - 1) * (1.0 + 1.0 / m) + 1) +
               vec * (N / m) * (2 + 2.0 * k + 6.0 * (k - 1) + 3);
      };
      EXPECT_NEAR(p.forward_solve.total, solve(kf, tf), 1e-12);
      EXPECT_NEAR(p.adjoint_solve.total, solve(kb, ta), 1e-12);
      // Parameter gradients: one per layer, taken in the adjoint's final sweep.
      const double grad = N * tg;
      const double overhead = (solve(kf, tf) - N * tf) + (solve(kb, ta) - N * tb) + (grad - N * tg);
      EXPECT_NEAR(p.time.total, p.serial.time.total + overhead, 1e-9 * p.serial.time.total);
      EXPECT_NEAR(p.speedup * p.time.total, p.serial.time.total, 1e-12);
    }
}

TEST(PerfModel, OneLevelOnOneRankIsExactlySerial) {
  const ModelShape s = small_gpt(32);
  StepModel model(s, shipped("h100_sxm"));
  model.set_serial_mode(SerialMode::recompute);
  MgritSettings one;
  one.levels = 1;
  one.fwd_iters = 5;  // ignored: one level is a single exact sweep
  const Prediction p = model.predict(1, one);
  EXPECT_EQ(p.forward_solve.iterations, 1);
  EXPECT_NEAR(p.time.total, p.serial.time.total, 1e-12 * p.serial.time.total);
}

TEST(PerfModel, IdealNetworkGivesTheClosedFormCriticalPath) {
  const double tf = 1.0e-3, tb = 2.0e-3, tg = 0.5e-3, ta = tf + tb;
  for (int m : {2, 4, 8})
    for (int P : {1, 4, 16})
      for (int kf : {1, 2, 3}) {
        const int N = m * P * 3;
        const ModelShape s = small_gpt(N);
        StepModel model(s, ideal_network());
        model.set_measured(measured_for(s, tf, tb, tg));
        const Prediction p = model.predict(P, two_level(m, kf, 1));
        EXPECT_EQ(p.ranks_used, P);
        EXPECT_NEAR(p.forward_solve.total, two_level_closed_form(N, m, P, kf, tf), 1e-12)
            << "m " << m << " P " << P << " k " << kf;
        EXPECT_NEAR(p.adjoint_solve.total, two_level_closed_form(N, m, P, 1, ta), 1e-12);
        EXPECT_NEAR(p.time.param_grad, (N / P) * tg, 1e-12);
      }
  // As P grows the forward solve's speedup tends to m/k: the coarse solve is left.
  const int m = 4, k = 2, P = 1024, N = m * P;
  const ModelShape s = small_gpt(N);
  StepModel model(s, ideal_network());
  model.set_measured(measured_for(s, tf, tb, tg));
  const Prediction p = model.predict(P, two_level(m, k, 1));
  const double fwd_speedup = N * tf / p.forward_solve.total;
  const double closed = 1.0 / (double(k) / m + ((k - 1) * (m + 1) + m) / double(m * P));
  EXPECT_NEAR(fwd_speedup, closed, 1e-9);
  EXPECT_NEAR(fwd_speedup, double(m) / k, 0.02);
}

TEST(PerfModel, ThreeLevelsMatchTheirClosedForm) {
  const double t = 1e-3;
  const int m = 4, P = 8, N = m * m * P * 2;
  const ModelShape s = small_gpt(N);
  StepModel model(s, ideal_network());
  model.set_measured(measured_for(s, t, t, t));
  MgritSettings st;
  st.levels = 3;
  st.cfactor = {m};  // F on level 0, FCF on level 1 (the default)
  for (int k : {1, 2, 4}) {
    st.fwd_iters = k;
    const Prediction p = model.predict(P, st);
    const double q0 = double(N) / (m * P), q1 = double(N) / (m * m * P), coarse = double(N) / (m * m);
    // Up: the coarse solve and level 1's F-sweep (level 0 only takes the injected C-points);
    // down: level 0 F + restriction, level 1 FCF + restriction; then the final level-0 sweep.
    const double up = coarse + q1 * (m - 1);
    const double down = q0 * (m - 1) + 2 * q0 + (2 * q1 * (m - 1) + q1) + 2 * q1;
    EXPECT_NEAR(p.forward_solve.total, t * (k * up + (k - 1) * down + q0 * m), 1e-12) << "k " << k;
  }
}

TEST(PerfModel, SerialGrowsLinearlyAndTheMultilevelPathLogarithmically) {
  const HardwareProfile hw = shipped("h100_sxm");
  ModelShape s;  // GPT-2 small
  std::vector<double> serial, path;
  const int m = 4;
  for (int e = 2; e <= 6; ++e) {  // N = 16 ... 4096, P = N/m, coarsen down to m steps
    const int N = static_cast<int>(std::pow(m, e));
    s.layers = N;
    StepModel model(s, hw);
    model.set_serial_mode(SerialMode::recompute);
    MgritSettings st;
    st.levels = e;
    st.cfactor = {m};
    const Prediction p = model.predict(N / m, st);
    serial.push_back(p.serial.time.total);
    path.push_back(p.forward_solve.total);
  }
  // Serial: a + b·N exactly.
  const double b = (serial[1] - serial[0]) / (std::pow(m, 3) - std::pow(m, 2));
  for (size_t i = 0; i < serial.size(); ++i)
    EXPECT_NEAR(serial[i], serial[0] + b * (std::pow(m, i + 2) - m * m), 1e-9 * serial[i]);
  // MGRIT: each factor m in N adds one level, i.e. a bounded increment (growth with log N);
  // the increments stay within a factor 2 of each other while N grows 256-fold.
  for (size_t i = 1; i + 1 < path.size(); ++i) {
    const double inc0 = path[i] - path[i - 1], inc1 = path[i + 1] - path[i];
    EXPECT_GT(inc0, 0);
    EXPECT_LT(inc1, 2 * inc0);
    EXPECT_GT(inc1, 0.5 * inc0);
  }
  EXPECT_LT(path.back() / path.front(), 10.0);
}

TEST(PerfModel, TwoLevelsWithOneIntervalPerRankGrowWithSlopeKOverM) {
  const HardwareProfile hw = ideal_network();
  const double t = 1e-3;
  const int m = 4, k = 2;
  double prev = 0;
  for (int N : {64, 128, 256}) {
    const ModelShape s = small_gpt(N);
    StepModel model(s, hw);
    model.set_measured(measured_for(s, t, t, t));
    const double path = model.predict(N / m, two_level(m, k, 1)).forward_solve.total;
    EXPECT_NEAR(path, two_level_closed_form(N, m, N / m, k, t), 1e-12);
    if (prev > 0) {
      EXPECT_LT(path / prev, 2.0);  // sub-linear: doubling N does not double it
    }
    prev = path;
  }
}

TEST(PerfModel, MessagesAndReductionsCostWhatTheLinksSay) {
  HardwareProfile hw = ideal_network();
  hw.ranks_per_node = 4;
  hw.intra_node = {1e-6, 1e300};
  hw.inter_node = {1e-5, 1e300};
  const int m = 4, P = 8, N = m * P;
  const ModelShape s = small_gpt(N);
  StepModel model(s, hw);
  model.set_measured(measured_for(s, 1e-3, 1e-3, 1e-3));
  const Prediction p = model.predict(P, two_level(m, 2, 1));
  // Coarse solve: 7 rank changes along the chain (one between nodes), twice (two iterations).
  EXPECT_NEAR(p.forward_solve.coarsest, 2 * (N / m * 1e-3 + 6 * 1e-6 + 1e-5), 1e-12);
  // Two residual-norm allreduces (iteration 2 and the final residual), across nodes: 2·log2(8)
  // latencies each.
  EXPECT_NEAR(p.forward_solve.reductions, 2 * 6 * 1e-5, 1e-12);
  // Level 0 in iteration 2: restriction waits for one inter-node message; F-sweeps need none.
  EXPECT_NEAR(p.forward_solve.levels[0].comm, 1e-5, 1e-12);
}

TEST(PerfModel, MeasuredTimesMustMatchTheShape) {
  const ModelShape s = small_gpt(8);
  StepModel model(s, shipped("h100_sxm"));
  MeasuredLayerTimes m = measured_for(s, 1, 1, 1);
  m.d = 32;
  try {
    model.set_measured(m);
    FAIL() << "a shape mismatch was accepted";
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("calibrate at the predicted shape"), std::string::npos);
  }
}

TEST(PerfModel, MemoryPerRankShrinksWithRanks) {
  ModelShape s;
  s.layers = 256;
  StepModel model(s, shipped("h100_sxm"));
  const double m8 = model.predict(8, two_level(4, 2, 1)).memory.total;
  const double m64 = model.predict(64, two_level(4, 2, 1)).memory.total;
  EXPECT_LT(m64, m8);
  MgritSettings tapes = two_level(4, 2, 1), replay = two_level(4, 2, 1);
  tapes.store_tapes = true;
  replay.keep_tapes = false;  // a program that recomputes the forward instead of keeping tapes
  const Prediction pt = model.predict(8, tapes), pr = model.predict(8, replay);
  EXPECT_GT(pt.memory.tapes, pr.memory.tapes);
  EXPECT_LT(pt.time.adjoint, pr.time.adjoint);  // tapes trade memory for the forward replay
}

TEST(PerfModel, ConvergenceFactorGivesIterations) {
  EXPECT_EQ(ConvergenceTable::iterations_for(0.1, 1e-2, 10), 3);   // 1 + 2
  EXPECT_EQ(ConvergenceTable::iterations_for(0.1, 1.1e-2, 10), 3);
  EXPECT_EQ(ConvergenceTable::iterations_for(0.5, 1e-3, 10), 10);  // 1 + 10, capped
  EXPECT_EQ(ConvergenceTable::iterations_for(1.2, 1e-3, 7), 7);    // diverging: the cap
  ConvergenceTable t;
  t.set_tolerance(1e-3);
  t.add({2, 4, 0.1, 0.3});
  const auto it = t.iterations(2, 4);
  ASSERT_TRUE(it.has_value());
  EXPECT_EQ(it->first, 4);
  EXPECT_EQ(it->second, 1 + static_cast<int>(std::ceil(std::log(1e-3) / std::log(0.3))));
  EXPECT_FALSE(t.iterations(3, 4).has_value());
}

TEST(PerfModel, SearchReturnsTheBestGridPoint) {
  ModelShape s;
  s.layers = 256;
  StepModel model(s, shipped("h100_sxm"));
  for (int P : {4, 32, 128}) {
    SearchGrid g;
    const SearchResult r = search_best(model, P, g);
    ASSERT_FALSE(r.tried.empty());
    bool found = false;
    for (const auto& p : r.tried) {
      EXPECT_LE(r.best.time.total, p.time.total);
      found = found || p.settings.describe() == r.best.settings.describe();
    }
    EXPECT_TRUE(found);
    // Every grid point is either tried or counted as skipped (levels 1 counts once).
    EXPECT_EQ(r.tried.size() + r.skipped, 1 + (g.levels.size() - 1) * g.cfactors.size());
  }
  // With a convergence table only its entries are tried, with their iteration counts.
  ConvergenceTable t;
  t.add({2, 4, 0.05, 0.2});
  t.add({3, 2, 0.3, 0.5});
  SearchGrid g;
  g.levels = {2, 3};
  g.table = &t;
  const SearchResult r = search_best(model, 16, g);
  ASSERT_EQ(r.tried.size(), 2u);
  for (const auto& p : r.tried) {
    const auto it = t.iterations(p.settings.levels, p.settings.cf(0));
    EXPECT_EQ(p.settings.fwd_iters, it->first);
    EXPECT_EQ(p.settings.bwd_iters, it->second);
  }
}

// The report behind `lpt predict` (its command line: tests/test_cli.cpp).
TEST(PerfModel, PredictReportHoldsItsTable) {
  PredictOptions o;
  o.layers = {32, 64};
  o.ranks = {2, 8};
  o.profile = "a100_sxm";
  o.crossover = false;
  const nlohmann::json j = report_to_json(run_prediction(o));
  ASSERT_EQ(j["rows"].size(), 4u);
  EXPECT_EQ(j["rows"][0]["layers"], 32);
  EXPECT_GT(j["rows"][3]["speedup"].get<double>(), 0);
  // Per-level phase times travel along for comparison with the schedule simulator.
  const auto& fs = j["rows"][3]["forward_solve_s"];
  double sum = fs["coarsest"].get<double>() + fs["reductions"].get<double>() +
               fs["final_sweep"].get<double>();
  for (const auto& l : fs["levels"])
    sum += l["relax"].get<double>() + l["restrict"].get<double>() + l["interp"].get<double>() +
           l["comm"].get<double>();
  EXPECT_NEAR(sum, fs["total"].get<double>(), 1e-12);
  // simulate adds the schedule simulator's step where the solver can split the chain; without
  // search only the first levels and cfactors values count.
  PredictOptions o2;
  o2.layers = {64};
  o2.ranks = {4, 64};
  o2.profile = "a100_sxm";
  o2.grid.levels = {2, 5};
  o2.grid.cfactors = {4, 2};
  o2.search = false;
  o2.simulate = true;
  o2.crossover = false;
  const nlohmann::json j2 = report_to_json(run_prediction(o2));
  ASSERT_EQ(j2["rows"].size(), 2u);
  EXPECT_EQ(j2["rows"][0]["grid_points_tried"], 1);
  EXPECT_EQ(j2["rows"][0]["settings"]["levels"], 2);
  EXPECT_EQ(j2["rows"][0]["settings"]["cfactor"], 4);
  const auto& sim = j2["rows"][0]["simulated"];
  EXPECT_NEAR(sim["total_s"].get<double>(), j2["rows"][0]["time_s"]["total"].get<double>(),
              0.05 * sim["total_s"].get<double>());
  EXPECT_EQ(sim["busy_fwd_s"].size(), 4u);
  // 64 ranks, 16 fine intervals (L2 m4): 16 of them get layers, and are simulated.
  EXPECT_EQ(j2["rows"][1]["ranks_used"], 16);
  EXPECT_EQ(j2["rows"][1]["simulated"]["busy_fwd_s"].size(), 16u);
  // 3 levels of m 2: 16 coarsest steps but 32 on level 1. The blocks align to level 1 and all 32
  // ranks get layers; the coarsest level lives on 16 of them, and the simulator (the solver's own
  // cycle) agrees with the model there too.
  PredictOptions o3 = o2;
  o3.ranks = {32};
  o3.grid.levels = {3};
  o3.grid.cfactors = {2};
  const nlohmann::json j3 = report_to_json(run_prediction(o3));
  EXPECT_EQ(j3["rows"][0]["ranks_used"], 32);
  ASSERT_TRUE(j3["rows"][0].contains("simulated"));
  const auto& sim3 = j3["rows"][0]["simulated"];
  EXPECT_EQ(sim3["busy_fwd_s"].size(), 32u);
  EXPECT_NEAR(sim3["total_s"].get<double>(), j3["rows"][0]["time_s"]["total"].get<double>(),
              0.05 * sim3["total_s"].get<double>());
}

TEST(PerfModel, SavedProfileLoadsAgain) {
  HardwareProfile p = shipped("this_machine");
  p.gemm_flops_fp32 = 1.23e11;
  p.sources["gemm_flops_fp32"] = "measured by a test";
  const std::string path = std::string(LPT_BINARY_DIR) + "/test_perfmodel_profile.json";
  save_profile(p, path);
  const HardwareProfile q = load_profile(path);
  EXPECT_DOUBLE_EQ(q.gemm_flops_fp32, 1.23e11);
  EXPECT_EQ(q.sources.at("gemm_flops_fp32"), "measured by a test");
  p.sources.erase("vector_flops");
  EXPECT_THROW(save_profile(p, path), lpt::Error);
}

TEST(PerfModel, TranslationChainMixesLayerKinds) {
  ModelShape s = small_gpt(8);
  s.family = Family::mt;
  s.enc_layers = 3;
  s.src_seq = 12;
  const HardwareProfile hw = shipped("a100_sxm");
  const StepCosts c = step_costs(s, hw);
  const double te = op_time(encoder_layer_cost(s, s.src_seq).forward, hw, s.act_bytes);
  const double td = op_time(decoder_layer_cost(s, s.seq, s.src_seq).forward, hw, s.act_bytes);
  for (int n = 0; n < 8; ++n) EXPECT_DOUBLE_EQ(c.forward[n], n < 3 ? te : td) << n;
  StepModel model(s, hw);
  MgritSettings one;
  one.levels = 1;
  const Prediction p = model.predict(1, one);
  EXPECT_NEAR(p.serial.time.forward, 3 * te + 5 * td, 1e-15);
  EXPECT_NEAR(p.forward_solve.total, 3 * te + 5 * td, 1e-15);
}

TEST(PerfModel, DataParallelReplicasAddARingAllreduce) {
  const ModelShape s = small_gpt(16);
  const HardwareProfile hw = shipped("h100_sxm");
  StepModel one(s, hw), four(s, hw);
  four.set_replicas(4);
  const MgritSettings st = two_level(4, 2, 1);
  const Prediction p1 = one.predict(2, st), p4 = four.predict(2, st);
  EXPECT_EQ(p1.time.data_parallel, 0.0);
  // 4 replicas x 2 ranks fit in one 8-GPU node: the ring runs on NVLink.
  // fp32 gradients of the rank with most parameters: rank 0's 8 layers and both ends (it
  // closes as well as opens; a tied embedding is counted once).
  const StepCosts& c = four.costs();
  const double layers = 8 * c.params[0];
  const double bytes = 4 * (layers + c.opening_params + c.closing_params);
  const double ring = 2.0 * 3 / 4 * bytes / hw.intra_node.bandwidth + 6 * hw.intra_node.latency_s;
  EXPECT_NEAR(p4.time.data_parallel, ring, 1e-15);
  EXPECT_NEAR(p4.time.total - p4.time.data_parallel, p1.time.total, 1e-15);
  EXPECT_GT(p4.serial.time.data_parallel, 0.0);
  EXPECT_THROW(four.set_replicas(0), lpt::Error);
}

TEST(PerfModel, MeasuredSerialTapesAndOptimizerReplaceTheirEstimates) {
  const ModelShape s = small_gpt(16);
  StepModel model(s, shipped("h100_sxm"));
  MeasuredLayerTimes m = measured_for(s, 1e-3, 2e-3, 0.5e-3);
  model.set_measured(m);
  const SerialPrediction hot = model.serial();
  m.serial_forward_s = 1.5e-3;  // tapes from memory cost more than the cached calibration
  m.serial_backward_s = 3.0e-3;
  m.optimizer_per_param_s = 1e-9;
  m.vector_op_s = 7e-6;
  m.adjoint_step_s = 2.5e-3;  // less than forward + VJP: the replay writes a cached workspace
  model.set_measured(m);
  EXPECT_DOUBLE_EQ(model.costs().vector_op_s, 7e-6);
  MgritSettings st;
  st.levels = 2;
  st.cfactor = {4};
  st.bwd_iters = 1;
  const Prediction p = model.predict(1, st);
  // One adjoint iteration on one rank: the coarse solve (4 steps) and the final sweep (16).
  // Vector ops per interval (4 intervals): 2 skipped restriction, 1 coarse rhs, 1 injection,
  // 3 final residual.
  EXPECT_NEAR(p.adjoint_solve.total, (4 + 16) * 2.5e-3 + 4 * 7 * 7e-6, 1e-12);
  const SerialPrediction cold = model.serial();
  EXPECT_NEAR(cold.time.forward, 16 * 1.5e-3, 1e-12);
  EXPECT_NEAR(cold.time.adjoint + cold.time.param_grad, 16 * 3.0e-3, 1e-12);
  EXPECT_NEAR(hot.time.forward, 16 * 1e-3, 1e-12);
  const double params = std::accumulate(model.costs().params.begin(), model.costs().params.end(),
                                        0.0) + model.costs().opening_params +
                        model.costs().closing_params;
  EXPECT_NEAR(cold.time.optimizer, params * 1e-9, 1e-12);
  // A file with the optional keys loads; an unknown key is still refused.
  const std::string path = std::string(LPT_BINARY_DIR) + "/test_perfmodel_measured.json";
  std::ofstream(path) << R"({"batch":2,"seq":8,"d":16,"heads":2,"d_ff":64,"forward_s":1,
      "vjp_state_s":1,"param_grad_s":1,"serial_forward_s":2,"serial_backward_s":3,
      "optimizer_per_param_s":1e-9,"vector_op_s":2e-6})";
  const MeasuredLayerTimes loaded = load_measured_times(path);
  EXPECT_DOUBLE_EQ(loaded.serial_backward_s, 3);
  // The writer is the reader's inverse (one key table): the file comes back key for key, and the
  // optional time that was absent (adjoint_step_s) stays absent.
  const nlohmann::json written = measured_times_to_json(loaded);
  EXPECT_EQ(written, nlohmann::json::parse(std::ifstream(path)));
  EXPECT_FALSE(written.contains("adjoint_step_s"));
  EXPECT_THROW(measured_times_from_json(nlohmann::json{{"batch", 2.5}}, "x"), lpt::Error);
  std::ofstream(path) << R"({"batch":2,"seq":8,"d":16,"heads":2,"d_ff":64,"forward_s":1,
      "vjp_state_s":1,"param_grad_s":1,"serial_fwd":2})";
  EXPECT_THROW(load_measured_times(path), lpt::Error);
  std::remove(path.c_str());
}

TEST(PerfModel, SearchKeepsToLayoutsTheSolverRuns) {
  ModelShape s;  // GPT-2 small
  s.layers = 1024;
  StepModel model(s, shipped("h100_sxm"));
  for (int P : {8, 64, 512}) {
    const SearchResult r = search_best(model, P, SearchGrid{});
    for (const auto& p : r.tried) {
      // A setting runs on min(P, its fine intervals) ranks, as solver/grid.cpp splits it.
      EXPECT_EQ(p.ranks_used, std::min(P, max_ranks(1024, p.settings))) << p.settings.describe();
      EXPECT_EQ(p.ranks_requested, P);
    }
  }
}

#include "perfmodel/cycle_settings.hpp"
#include "perfmodel/schedule_sim.hpp"

namespace {

// The adjoint's own cycle (issue 11): an adjoint section equal to the forward's predicts what the
// shared settings predict, bit for bit; one that differs is priced on its own hierarchy (one
// level: a plain backward sweep over every step, slower on 8 ranks than two-level MGRIT with
// one iteration), and the forward's cost does not move.
TEST(PerfModel, AdjointCycleIsPricedOnItsOwnSettings) {
  StepModel model(small_gpt(64), ideal_network());
  model.set_measured(measured_for(small_gpt(64), 1e-3, 2e-3, 5e-4));
  MgritSettings shared = two_level(4, 2, 1);
  shared.skip_first_down = false;
  MgritSettings same = shared;
  same.adjoint.levels = 2;
  same.adjoint.cfactor = {4};
  same.adjoint.skip_first_down = false;
  const Prediction a = model.predict(8, shared), b = model.predict(8, same);
  EXPECT_EQ(a.time.total, b.time.total);
  EXPECT_EQ(a.memory.total, b.memory.total);

  MgritSettings sweep = shared;
  sweep.adjoint.levels = 1;
  const Prediction c = model.predict(8, sweep);
  EXPECT_EQ(c.forward_solve.total, a.forward_solve.total);
  const auto& adj = model.costs().adjoint_step;  // an ideal network: only the 64 steps remain
  EXPECT_NEAR(c.adjoint_solve.total, std::accumulate(adj.begin(), adj.end(), 0.0), 1e-12);
  EXPECT_GT(c.adjoint_solve.total, a.adjoint_solve.total);
  EXPECT_NE(sweep.describe().find("| bwd L1"), std::string::npos) << sweep.describe();

  // Skip removes the first down-cycle's work from the adjoint only.
  MgritSettings skip = shared;
  skip.adjoint = {2, {4}, {}, true};
  const Prediction d = model.predict(8, skip);
  EXPECT_EQ(d.forward_solve.total, a.forward_solve.total);
  EXPECT_LT(d.adjoint_solve.total, a.adjoint_solve.total);
}

// settings_of and cycle_options are inverse on what the perf model describes.
TEST(PerfModel, CycleSettingsRoundTrip) {
  lpt::mgrit::CycleOptions f, b;
  f.set_max_levels(3);
  f.set_cfactor(0, 2);
  f.set_cfactor(1, 4);
  f.set_fine_relax(lpt::mgrit::Relax::FCF);
  f.set_skip(true);
  f.set_max_iter(3);
  b.set_max_levels(2);
  b.set_cfactor(8);
  b.set_max_iter(1);
  const MgritSettings s = settings_of(f, b);
  for (bool adjoint : {false, true}) {
    const lpt::mgrit::CycleOptions& want = adjoint ? b : f;
    const lpt::mgrit::CycleOptions got = cycle_options(s, adjoint, want.max_iter());
    EXPECT_EQ(got.max_levels(), want.max_levels());
    for (int l = 0; l + 1 < want.max_levels(); ++l) {
      EXPECT_EQ(got.cfactor(l), want.cfactor(l));
      EXPECT_EQ(got.relax(l), want.relax(l));
    }
    EXPECT_EQ(got.skip(), want.skip());
    EXPECT_EQ(got.max_iter(), want.max_iter());
  }
  // The simulator runs each solve's own cycle: the adjoint evaluates steps on 2 levels only.
  StepModel model(small_gpt(64), ideal_network());
  const SimulatedStep sim = simulate_step(model, 4, s);
  EXPECT_EQ(sim.forward.evals.size(), 3u);
  EXPECT_EQ(sim.adjoint.evals.size(), 2u);
}

}  // namespace
