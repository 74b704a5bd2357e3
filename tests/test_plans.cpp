// Plans on G devices (perfmodel/plans.hpp): the pipeline's bubble and memory against hand counts,
// the data-parallel allreduce against the ring formula, products with one group against the plain
// plans, splits that do not divide, memory fit and the winner. Formulas: docs/perfmodel.md §7.
#include <gtest/gtest.h>

#include <numeric>

#include "perfmodel/plans.hpp"
#include "perfmodel/predict.hpp"
#include "util/error.hpp"

using namespace lpt::perf;

namespace {

HardwareProfile h100() { return load_profile(resolve_profile_path("h100_sxm")); }

ModelShape gpt2(int layers, int batch) {
  ModelShape s;  // GPT-2 small layers, T 1024, bf16
  s.layers = layers;
  s.batch = batch;
  return s;
}

double sum(const std::vector<double>& v, int first, int last) {
  return std::accumulate(v.begin() + first, v.begin() + last, 0.0);
}

}  // namespace

TEST(Plans, FourEqualStagesOverEightMicroBatchesTakeElevenUnits) {
  // Fill 3 + steady 8 = 11 stage-micro-batch units; idle 3 of 11.
  EXPECT_DOUBLE_EQ(pipeline_compute({1.5, 1.5, 1.5, 1.5}, 8), 11 * 1.5);
  EXPECT_DOUBLE_EQ(bubble_fraction(8, 4), 3.0 / 11.0);
  EXPECT_DOUBLE_EQ(bubble_fraction(8, 1), 0.0);
  // Uneven stages: each micro-batch passes all once, the slowest paces the other k − 1.
  EXPECT_DOUBLE_EQ(pipeline_compute({1, 3, 2}, 5), 6 + 4 * 3);
}

TEST(Plans, MicroBatchesInFlightAreGpipesKAnd1f1bsPMinusStage) {
  for (int st = 0; st < 4; ++st) EXPECT_EQ(in_flight(PipeSchedule::gpipe, 8, 4, st), 8);
  const int want[] = {4, 3, 2, 1};
  for (int st = 0; st < 4; ++st) EXPECT_EQ(in_flight(PipeSchedule::one_f_one_b, 8, 4, st), want[st]);
  EXPECT_EQ(in_flight(PipeSchedule::one_f_one_b, 2, 4, 0), 2);  // never more than k
}

TEST(Plans, PipelineTimeIsTheHandCountOfItsStages) {
  // P = 4 stages of 4 layers, k = 8 micro-batches of 64 / 8 = 8 sequences, tapes kept.
  const HardwareProfile hw = h100();
  const ModelShape s = gpt2(16, 64);
  const Plan p = price_exact(s, hw, 1, 4, 8, PipeSchedule::one_f_one_b, false);
  StepModel m(gpt2(16, 8), hw);
  const StepCosts& c = m.costs();
  const Network net = m.network();
  std::vector<double> unit(4);
  for (int st = 0; st < 4; ++st) {
    const StepBreakdown t = chain_time(c, 4 * st, 4 * st + 4, false);
    unit[st] = t.forward + t.adjoint + t.param_grad;
    EXPECT_DOUBLE_EQ(unit[st], sum(c.serial_forward, 4 * st, 4 * st + 4) +
                                   sum(c.serial_backward, 4 * st, 4 * st + 4));
  }
  unit[0] += c.opening_fwd + c.opening_bwd + net.message(0, 1);
  unit[1] += net.message(0, 1) + net.message(1, 2);
  unit[2] += net.message(1, 2) + net.message(2, 3);
  unit[3] += c.closing_fwd + c.closing_bwd + net.message(2, 3);
  const double slowest = *std::max_element(unit.begin(), unit.end());
  EXPECT_NEAR(p.time.compute, unit[0] + unit[1] + unit[2] + unit[3] + 7 * slowest, 1e-15);
  EXPECT_DOUBLE_EQ(p.bubble, 3.0 / 11.0);
  EXPECT_EQ(p.micro_batch, 8);
  EXPECT_EQ(p.time.data_parallel, 0);  // one group
  // The tied embedding's gradient crosses from the last stage to the first once, exposed.
  EXPECT_DOUBLE_EQ(p.time.embed_sync, message_time(c.tied_params * 4, hw.intra_node));
  // GPipe orders the same work differently: same time.
  const Plan g = price_exact(s, hw, 1, 4, 8, PipeSchedule::gpipe, false);
  EXPECT_DOUBLE_EQ(g.time.total, p.time.total);
}

TEST(Plans, PipelineMemoryHoldsTheMicroBatchesInFlight) {
  const HardwareProfile hw = h100();
  const ModelShape s = gpt2(16, 64);
  StepModel m(gpt2(16, 8), hw);
  const StepCosts& c = m.costs();
  const double tapes = 4 * c.tape_bytes[0], states = 5 * c.state_bytes;  // one stage, one batch
  const Plan f = price_exact(s, hw, 1, 4, 8, PipeSchedule::one_f_one_b, false);
  const Plan g = price_exact(s, hw, 1, 4, 8, PipeSchedule::gpipe, false);
  ASSERT_EQ(f.stages.size(), 4u);
  for (int st = 0; st < 4; ++st) {
    EXPECT_DOUBLE_EQ(f.stages[st].tapes, (4 - st) * tapes) << st;
    EXPECT_DOUBLE_EQ(f.stages[st].states, (4 - st) * states) << st;
    EXPECT_DOUBLE_EQ(g.stages[st].tapes, 8 * tapes) << st;
  }
  // The ends hold the opening and closing layers (the tied embedding on both), the last stage
  // one micro-batch's logits.
  const double layer = c.params[0];
  EXPECT_DOUBLE_EQ(f.stages[1].grads, 4 * layer * 4);
  EXPECT_DOUBLE_EQ(f.stages[0].grads, (4 * layer + c.opening_params) * 4);
  EXPECT_DOUBLE_EQ(f.stages[3].grads, (4 * layer + c.closing_params + c.tied_params) * 4);
  EXPECT_DOUBLE_EQ(f.stages[3].workspace, c.closing_workspace);
  EXPECT_DOUBLE_EQ(f.stages[1].optimizer, 4 * layer * 8);
  // Recompute keeps the layer inputs of each micro-batch in flight and one tape of workspace.
  const Plan r = price_exact(s, hw, 1, 4, 8, PipeSchedule::one_f_one_b, true);
  EXPECT_DOUBLE_EQ(r.stages[0].tapes, c.tape_bytes[0]);
  EXPECT_DOUBLE_EQ(r.stages[0].states, 4 * states);
  EXPECT_GT(r.time.total, f.time.total);  // it replays every forward
  // The plan reports its fullest device.
  double most = 0;
  for (const MemoryUse& u : g.stages) most = std::max(most, u.total);
  EXPECT_DOUBLE_EQ(g.memory.total, most);
}

TEST(Plans, DataParallelAllreduceIsTheRingFormula) {
  const HardwareProfile hw = h100();  // 8 GPUs per node
  for (int D : {8, 16}) {
    const Plan p = price_exact(gpt2(12, 512), hw, D, 1, 1, PipeSchedule::one_f_one_b, false);
    StepModel m(gpt2(12, 512 / D), hw);
    const StepCosts& c = m.costs();
    const double params = sum(c.params, 0, 12) + c.opening_params + c.closing_params;
    const Link& l = D <= 8 ? hw.intra_node : hw.inter_node;  // a ring inside one node, or not
    const double ring = 2.0 * (D - 1) / D * params * 4 / l.bandwidth + 2.0 * (D - 1) * l.latency_s;
    EXPECT_NEAR(p.time.data_parallel, ring, 1e-12 * ring) << D;
    EXPECT_EQ(p.micro_batch, 512 / D);
  }
}

TEST(Plans, DataParallelIsTheSerialStepOfItsShareWithReplicas) {
  // The StepModel's --replicas is data parallelism of the whole model: the plan reuses it.
  const HardwareProfile hw = h100();
  const Plan p = price_exact(gpt2(24, 256), hw, 32, 1, 1, PipeSchedule::one_f_one_b, false);
  StepModel m(gpt2(24, 8), hw);
  m.set_replicas(32);
  const SerialPrediction s = m.serial();
  EXPECT_NEAR(p.time.total, s.time.total, 1e-12 * s.time.total);
  EXPECT_NEAR(p.memory.total, s.memory.total, 1e-6);
  EXPECT_DOUBLE_EQ(p.time.data_parallel, s.time.data_parallel);
}

TEST(Plans, OneGroupProductsEqualThePlainPlans) {
  const HardwareProfile hw = h100();
  const ModelShape s = gpt2(64, 16);
  // Layer-parallel with D = 1: the search `lpt predict` runs, on the whole batch.
  SearchGrid grid;
  const Plan lp = price_layer_parallel(s, hw, 1, 8, 1, grid);
  const SearchResult r = search_best(StepModel(s, hw), 8, grid);
  ASSERT_TRUE(r.best.memory.fits);
  EXPECT_DOUBLE_EQ(lp.time.total, r.best.time.total);
  EXPECT_EQ(lp.mgrit.settings.describe(), r.best.settings.describe());
  EXPECT_EQ(lp.time.data_parallel, 0);
  // An exact plan with D = 1 and P = 1 is the serial step.
  const Plan one = price_exact(s, hw, 1, 1, 1, PipeSchedule::one_f_one_b, false);
  const SerialPrediction ser = StepModel(s, hw).serial();
  EXPECT_NEAR(one.time.total, ser.time.total, 1e-12 * ser.time.total);
  EXPECT_NEAR(one.memory.total, ser.memory.total, 1e-6);
  // D groups of a layer-parallel plan: each group's batch, plus the allreduce of a rank's share.
  const Plan lp2 = price_layer_parallel(s, hw, 2, 4, 1, grid);
  StepModel half(gpt2(64, 8), hw);
  half.set_replicas(2);
  const SearchResult r2 = search_best(half, 4, grid);
  EXPECT_DOUBLE_EQ(lp2.time.total, r2.best.time.total);
  EXPECT_GT(lp2.time.data_parallel, 0);
}

TEST(Plans, AccumulatedMicroBatchesRepeatTheStepButNotTheUpdate) {
  const HardwareProfile hw = h100();
  const ModelShape s = gpt2(64, 16);
  SearchGrid grid;
  grid.levels = {3};
  grid.cfactors = {4};
  const Plan a = price_layer_parallel(s, hw, 1, 8, 2, grid);
  const StepBreakdown& t = a.mgrit.time;
  EXPECT_EQ(a.micro_batch, 8);
  EXPECT_DOUBLE_EQ(a.time.total, 2 * (t.total - t.optimizer - t.embed_sync - t.data_parallel) +
                                     t.optimizer + t.embed_sync + t.data_parallel);
  EXPECT_DOUBLE_EQ(a.memory.grads, 2 * a.mgrit.memory.grads);  // lpt's accumulation copy
}

TEST(Plans, BatchesThatDoNotSplitAreErrorsOrLeftOut) {
  const HardwareProfile hw = h100();
  EXPECT_THROW(price_exact(gpt2(16, 12), hw, 5, 1, 1, PipeSchedule::gpipe, false), lpt::Error);
  EXPECT_THROW(price_exact(gpt2(16, 12), hw, 2, 2, 4, PipeSchedule::gpipe, false), lpt::Error);
  EXPECT_THROW(price_layer_parallel(gpt2(16, 12), hw, 1, 4, 5, SearchGrid{}), lpt::Error);
  EXPECT_THROW(price_exact(gpt2(4, 8), hw, 1, 8, 1, PipeSchedule::gpipe, false), lpt::Error);
  // On 3 devices 512 sequences do not split three ways: no data-parallel plan, no product with
  // D = 3; pipelines and layer-parallel on 3 ranks remain. Only listed k that divide are tried.
  PlanSpace sp;
  sp.global_batch = 512;
  sp.micro_batches = {3, 4, 5};
  const PlanComparison c = compare_plans(gpt2(24, 0), hw, 3, sp);
  ASSERT_FALSE(c.best.empty());
  for (const Plan& p : c.best) {
    EXPECT_NE(p.family, PlanFamily::data_parallel);
    EXPECT_EQ(p.D, 1);
    EXPECT_EQ(p.k, 4);
  }
  EXPECT_EQ(c.serial.k, 4);
}

TEST(Plans, PlansThatDoNotFitAreMarkedAndTheWinnerIsTheFastestThatFits) {
  HardwareProfile hw = h100();
  PlanSpace sp;
  sp.global_batch = 64;
  const ModelShape s = gpt2(128, 0);
  const PlanComparison c = compare_plans(s, hw, 8, sp);
  ASSERT_GE(c.winner, 0);
  const Plan& w = c.best[c.winner];
  EXPECT_TRUE(w.memory.fits);
  for (const Plan& p : c.best)
    if (p.memory.fits) {
      EXPECT_LE(w.time.total, p.time.total) << p.describe();
    }
  // Shrink the memory below the winner's: it is marked as not fitting, and the new winner is a
  // plan that fits, no faster than the old one.
  hw.memory_capacity = w.memory.total * 0.999;
  const PlanComparison d = compare_plans(s, hw, 8, sp);
  ASSERT_GE(d.winner, 0);
  const Plan& w2 = d.best[d.winner];
  EXPECT_TRUE(w2.memory.fits);
  EXPECT_LT(w2.memory.total, w.memory.total);
  EXPECT_GE(w2.time.total, w.time.total);
  // Nothing fits in 1 GB: every plan is marked, no winner, layer-parallel does not win.
  hw.memory_capacity = 1e9;
  const PlanComparison e = compare_plans(s, hw, 8, sp);
  EXPECT_EQ(e.winner, -1);
  for (const Plan& p : e.best) EXPECT_FALSE(p.memory.fits);
  EXPECT_FALSE(layer_parallel_wins(e));
}

TEST(Plans, CrossoverIsTheSmallestWinningDepth) {
  EXPECT_EQ(smallest_winning_depth([](int N) { return N >= 37; }, 1 << 16), 37);
  EXPECT_EQ(smallest_winning_depth([](int N) { return N >= 2; }, 1 << 16), 2);
  EXPECT_EQ(smallest_winning_depth([](int) { return false; }, 1024), -1);
}

// Layer times calibrated at the micro-batch sizes the plans use replace the FLOP-derived ones:
// a data-parallel device of 2 groups then computes exactly N forwards and backwards of its
// measured layer; sizes without a calibration are not tried, and pricing one is an error that
// names the size to calibrate.
TEST(Plans, MeasuredLayerTimesPriceTheMicroBatchTheyWereMeasuredAt) {
  const ModelShape s = gpt2(8, 16);
  auto at = [&](int b, double t) {
    MeasuredLayerTimes m;
    m.batch = b;
    m.seq = s.tokens();
    m.d = s.d;
    m.heads = s.heads;
    m.d_ff = s.d_ff;
    m.forward_s = t;
    m.vjp_state_s = 2 * t;
    m.param_grad_s = t;
    return m;
  };
  const std::vector<MeasuredLayerTimes> measured = {at(8, 1e-3), at(16, 3e-3)};
  const std::vector<MeasuredLayerTimes> slower = {at(8, 2e-3), at(16, 3e-3)};
  const Plan flops = price_exact(s, h100(), 2, 1, 1, PipeSchedule::one_f_one_b, false);
  const Plan meas = price_exact(s, h100(), 2, 1, 1, PipeSchedule::one_f_one_b, false, &measured);
  const Plan slow = price_exact(s, h100(), 2, 1, 1, PipeSchedule::one_f_one_b, false, &slower);
  EXPECT_NE(meas.time.total, flops.time.total);
  // D = 2 of a batch of 16: micro-batch 8, so the b = 8 times count, 8 layers each adding
  // 1 ms more forward, 2 ms more state VJP and 1 ms more parameter gradient.
  EXPECT_NEAR(slow.time.compute - meas.time.compute, 8 * 4e-3, 1e-12);
  try {
    price_exact(s, h100(), 1, 2, 4, PipeSchedule::one_f_one_b, false, &measured);  // b = 4
    FAIL() << "a micro-batch of 4 without layer times was priced";
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.batch=4"), std::string::npos) << e.what();
  }
  PlanSpace space;
  space.global_batch = 16;
  space.measured = measured;
  ModelShape g = s;
  g.batch = 16;
  const PlanComparison c = compare_plans(g, h100(), 2, space);
  for (const Plan& p : c.best) EXPECT_TRUE(16 / (p.D * p.k) == 8 || 16 / (p.D * p.k) == 16);
}
