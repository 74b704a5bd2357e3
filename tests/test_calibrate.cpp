// lpt calibrate: every measured figure is positive and its output is what `lpt predict
// --measured` reads.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "train/calibrate.hpp"
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
  EXPECT_GT(c.vector_op_s, 0);
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

TEST(Calibrate, WritesAHardwareProfileThatLoads) {
  nlohmann::json j = {{"model", {{"family", "gpt"}, {"layers", 1}, {"d_model", 16}, {"heads", 2},
                                 {"d_ff", 32}, {"seq_len", 8}}},
                      {"train", {{"batch", 2}}}};
  const auto c = lpt::calibrate(lpt::resolve_config(j), 3);
  // Only that each figure was measured: the values depend on the machine and its load.
  EXPECT_GT(c.gemm_flops, 0);
  EXPECT_GT(c.memory_bandwidth, 0);
  EXPECT_GT(c.vector_flops, 0);
  EXPECT_GT(c.overhead_s, 0);
  EXPECT_GT(c.serial_forward_s, 0);
  EXPECT_GT(c.serial_backward_s, 0);
  EXPECT_GT(c.optimizer_per_param_s, 0);
  const auto base = lpt::perf::load_profile(lpt::perf::resolve_profile_path("cpu_epyc7763_hdr"));
  const auto p = lpt::calibrated_profile(c, base);
  const std::string path = testing::TempDir() + "lpt_calibrated_profile.json";
  lpt::perf::save_profile(p, path);
  const auto back = lpt::perf::load_profile(path);
  EXPECT_DOUBLE_EQ(back.gemm_flops_fp32, c.gemm_flops);
  EXPECT_DOUBLE_EQ(back.memory_bandwidth, c.memory_bandwidth);
  EXPECT_EQ(back.sources.at("gemm_flops_fp32").rfind("measured", 0), 0u);
  // One rank: the links are the base profile's, and the source says it was not measured.
  EXPECT_DOUBLE_EQ(back.intra_node.latency_s, base.intra_node.latency_s);
  EXPECT_EQ(back.sources.at("intra_node.latency_s").rfind("not measured", 0), 0u);
  EXPECT_NE(back.sources.at("inter_node.bandwidth").find("cpu_epyc7763_hdr"), std::string::npos);
  // Calibrating again from the calibrated profile does not nest the notes.
  const auto again = lpt::calibrated_profile(c, back);
  EXPECT_EQ(again.sources.at("inter_node.bandwidth"), back.sources.at("inter_node.bandwidth"));
  std::remove(path.c_str());
}
