// The adaptive controller's cost oracle (train/cost_oracle.hpp): absent without a
// profile; on one rank layer-parallel never beats serial; more iterations never make parallel
// faster; with many ranks on a fast network a deep model's cheap setting does beat serial.
#include <gtest/gtest.h>

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
