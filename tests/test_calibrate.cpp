// lpt calibrate: every measured figure is positive and its output is what `lpt predict
// --measured` reads.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "experiments/lib/calibrate.hpp"
#include "perfmodel/step_costs.hpp"
#include "util/error.hpp"

TEST(Calibrate, MeasuresALayerAndFeedsThePerfModel) {
  nlohmann::json j = {{"model", {{"family", "gpt"}, {"layers", 2}, {"d_model", 24}, {"heads", 3},
                                 {"d_ff", 40}, {"seq_len", 9}}},
                      {"train", {{"batch", 3}}}};
  const auto c = lpt::calibrate(lpt::resolve_config(j), 3);
  EXPECT_EQ(c.batch, 3);
  EXPECT_EQ(c.seq, 9);
  EXPECT_GT(c.forward_s, 0);
  EXPECT_GT(c.vjp_state_s, 0);
  EXPECT_GT(c.param_grad_s, 0);
  EXPECT_GT(c.axpy_s, 0);
  EXPECT_LT(c.latency_s, 0);  // one rank: no MPI figures
  const std::string path = testing::TempDir() + "lpt_calibration.json";
  std::ofstream(path) << c.measured_times().dump();
  const auto m = lpt::perf::load_measured_times(path);
  EXPECT_EQ(m.d, 24);
  EXPECT_EQ(m.heads, 3);
  EXPECT_EQ(m.d_ff, 40);
  EXPECT_DOUBLE_EQ(m.forward_s, c.forward_s);
  std::remove(path.c_str());
}

TEST(Calibrate, ViTSequenceIsPatchesPlusClassToken) {
  nlohmann::json j = {{"model", {{"family", "vit"}, {"layers", 1}, {"d_model", 8}, {"heads", 2},
                                 {"patch", 4}, {"image", {1, 8, 8}}}},
                      {"data", {{"name", "digits"}}}, {"train", {{"batch", 2}}}};
  EXPECT_EQ(lpt::calibrate(lpt::resolve_config(j), 3).seq, 1 + 4);
}

TEST(Calibrate, TooFewRepetitionsRejected) {
  EXPECT_THROW(lpt::calibrate(lpt::resolve_config(nlohmann::json::object()), 1), lpt::Error);
}
