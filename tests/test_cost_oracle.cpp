// The adaptive controller's cost oracle (train/cost_oracle.hpp): absent without a
// profile; on one rank layer-parallel never beats serial; more iterations never make parallel
// faster; with many ranks on a fast network a deep model's cheap setting does beat serial.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "perfmodel/hardware.hpp"
#include "perfmodel/step_model.hpp"
#include "run_lpt.hpp"
#include "train/config.hpp"
#include "train/cost_oracle.hpp"
#include "util/error.hpp"

namespace {

lpt::RunConfig deep_gpt(std::vector<std::string> sets) {
  sets.insert(sets.begin(), {"model.layers=256", "model.d_model=256", "model.heads=4",
                             "model.seq_len=256", "solver.mode=adaptive",
                             "solver.mgrit.forward.cfactor=4", "solver.mgrit.forward.levels=3"});
  return lpt::resolve_config(nlohmann::json::object(), sets);
}

lpt::ModelConfig dims() {
  lpt::ModelConfig d;
  d.vocab = 256;
  return d;
}

TEST(CostOracle, NoProfileNoOracle) {
  EXPECT_FALSE(bool(lpt::make_cost_oracle(deep_gpt({}), dims(), 4)));
}

TEST(CostOracle, OneRankNeverBeatsSerial) {
  auto f = lpt::make_cost_oracle(deep_gpt({"control.cost_model=h100_sxm"}), dims(), 1);
  ASSERT_TRUE(bool(f));
  for (int it = 1; it <= 4; ++it) EXPECT_FALSE(f(it, it)) << it;
  EXPECT_FALSE(f(0, 1));  // serial_forward
}

TEST(CostOracle, ManyRanksBeatSerialUntilIterationsGrow) {
  auto f = lpt::make_cost_oracle(
      deep_gpt({"control.cost_model=h100_sxm", "control.cost_ranks=64"}), dims(), 1);
  ASSERT_TRUE(bool(f));
  EXPECT_TRUE(f(1, 1));
  bool prev = true;
  for (int it = 1; it <= 64; it *= 2) {
    const bool now = f(it, it);
    EXPECT_TRUE(prev || !now) << "more iterations made parallel faster at " << it;
    prev = now;
  }
  EXPECT_FALSE(f(64, 64));
}

TEST(CostOracle, UnknownProfileIsAClearError) {
  try {
    lpt::make_cost_oracle(deep_gpt({"control.cost_model=no_such_machine"}), dims(), 1);
    ADD_FAILURE() << "no error";
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_machine"), std::string::npos) << e.what();
  }
}

}  // namespace

// `lpt predict --config` prices the cycle the trainer runs, converted as the oracle converts it:
// for cycles where the two solves differ (levels, cfactor, relaxation, skip, iterations) the
// prediction's setting is trainer_settings(cfg) and its step time is the perf model's for it.
namespace {

nlohmann::json predict_json(const std::vector<std::string>& sets, std::string* out) {
  const std::string json = testing::TempDir() + "predict_config.json";
  std::string args = "predict --config " + std::string(LPT_SOURCE_DIR) +
                     "/experiments/configs/defaults.json --profile h100_sxm --ranks 4 "
                     "--no-crossover --json " + json;
  for (const auto& s : sets) args += " --set " + s;
  const int rc = run_lpt(args, out);
  EXPECT_EQ(rc, 0) << *out;
  std::ifstream f(json);
  return nlohmann::json::parse(f);
}

}  // namespace

TEST(CostOracle, PredictConfigPricesTheTrainersCycle) {
  const std::vector<std::vector<std::string>> cycles = {
      {},
      {"solver.mgrit.forward.skip=true", "solver.mgrit.backward.skip=true"},
      {"solver.mgrit.backward.levels=3", "solver.mgrit.backward.cfactor=2",
       "solver.mgrit.backward.iterations=3"},
      {"solver.mgrit.forward.relax=FCF", "solver.mgrit.forward.iterations=4",
       "solver.mgrit.backward.skip=true"},
  };
  for (auto sets : cycles) {
    sets.insert(sets.begin(), {"model.layers=64", "model.vocab=256"});
    const lpt::RunConfig cfg = lpt::config_from(
        std::string(LPT_SOURCE_DIR) + "/experiments/configs/defaults.json", sets);
    const lpt::perf::MgritSettings want = lpt::trainer_settings(cfg);
    std::string out;
    const nlohmann::json j = predict_json(sets, &out);
    ASSERT_EQ(j.at("rows").size(), 1u) << out;
    const nlohmann::json& row = j.at("rows")[0];
    EXPECT_EQ(row.at("layers"), 64);
    EXPECT_EQ(row.at("settings").at("describe"), want.describe()) << out;
    EXPECT_EQ(row.at("settings").at("fwd_iters"), want.fwd_iters);
    EXPECT_EQ(row.at("settings").at("bwd_iters"), want.bwd_iters);
    const lpt::perf::StepModel model(
        lpt::perf_shape(cfg, 256),
        lpt::perf::load_profile(lpt::perf::resolve_profile_path("h100_sxm")));
    const lpt::perf::Prediction p =
        model.predict(std::min(4, lpt::perf::max_ranks(64, want)), want);
    EXPECT_NEAR(row.at("time_s").at("total").get<double>(), p.time.total, 1e-9 * p.time.total);
  }
}

TEST(CostOracle, PredictConfigRefusesOptionsTheConfigDecides) {
  for (const char* opt : {"--d 256", "--levels 3", "--fwd-iters 4", "--family bert"}) {
    std::string out;
    const int rc = run_lpt(std::string("predict --config ") + LPT_SOURCE_DIR +
                               "/experiments/configs/defaults.json " + opt,
                           &out);
    EXPECT_EQ(rc, 1) << opt << ": " << out;
    EXPECT_NE(out.find("contradicts --config"), std::string::npos) << out;
  }
}

TEST(CostOracle, PredictConfigDefaultsToItsDepthAndTheRanksItCanUse) {
  // 32 layers, two levels of cfactor 4: 8 coarsest points, so P = 2, 4, 8.
  std::string out;
  const std::string json = testing::TempDir() + "predict_default_ranks.json";
  ASSERT_EQ(run_lpt(std::string("predict --config ") + LPT_SOURCE_DIR +
                        "/experiments/configs/defaults.json --set model.layers=32 --set model.vocab=256 "
                        "--no-crossover --json " + json,
                    &out),
            0)
      << out;
  std::ifstream f(json);
  const nlohmann::json r = nlohmann::json::parse(f);
  std::vector<int> ranks;
  for (const auto& row : r.at("rows")) {
    EXPECT_EQ(row.at("layers"), 32);
    ranks.push_back(row.at("ranks"));
  }
  EXPECT_EQ(ranks, (std::vector<int>{2, 4, 8})) << out;
}
