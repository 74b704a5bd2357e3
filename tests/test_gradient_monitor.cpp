// The gradient monitor (train/gradient_monitor.hpp) in both precisions, on a 16-layer
// GPT at initialisation: with N/m iterations (two-level F-relaxation, exact) the float64 monitor
// reads the solver's error at float64 rounding and the float32 monitor float32 rounding; with
// few iterations both read the same error to float32 precision. The update's gradient is the
// float32 ĝ either way.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "data_fixture.hpp"
#include "train/config.hpp"
#include "train/gradient_monitor.hpp"
#include "adaptive/layer_parallel_step.hpp"
#include "train/task.hpp"
#include "train/train_step.hpp"

namespace {

using namespace lpt;

class Monitor : public ::testing::Test {
 protected:
  void SetUp() override { test::write_tiny_english(dir_); }
  RunConfig config(int fwd, int bwd) const {
    nlohmann::json j = {
        {"model", {{"family", "gpt"}, {"layers", 16}, {"d_model", 16}, {"heads", 2},
                   {"d_ff", 32}, {"seq_len", 16}, {"step_size", "T/N"}}},
        {"data", {{"name", "english"}, {"dir", dir_}}},
        {"train", {{"batch", 4}}},
        {"solver", {{"mode", "parallel"},
                    {"mgrit", {{"forward", {{"cfactor", 4}, {"iterations", fwd}}},
                               {"backward", {{"cfactor", 4}, {"iterations", bwd}}}}}}},
        {"monitor", {{"batches", 2}}}};
    return resolve_config(j);
  }
  // One check at step 0 of a fresh model; also returns the gradient left in the model.
  GradientCheck check(const RunConfig& c, MonitorPrecision p, std::vector<float>* left = nullptr) {
    auto task = make_task(c);
    Model<float>& m = task->model();
    m.init(c.train.seed);
    task->next_batch();
    m.set_dropout_key(c.train.seed, 0);
    TrainStep<float> serial(m, nullptr);
    LayerParallelStep lp(m);
    lp.configure(c.solver, false);
    lp.forward_backward();
    const std::vector<float> ghat(m.params().grads(), m.params().grads() + m.params().size());
    GradientMonitor mon(m, c.monitor.batches, p);
    const GradientCheck r = mon.check(0, *task, serial, lp);
    const std::vector<float> after(m.params().grads(), m.params().grads() + m.params().size());
    EXPECT_EQ(after, ghat) << "the check must leave the step's float32 ĝ for the update";
    if (left) *left = after;
    return r;
  }
  test::TempDir tmp_{"lpt_monitor"};
  const std::string dir_ = tmp_.path;
};

TEST_F(Monitor, Float64FloorIsTheSolversNotFloat32Rounding) {
  const RunConfig exact = config(4, 4);  // N/m = 16/4
  const GradientCheck c64 = check(exact, MonitorPrecision::float64);
  const GradientCheck c32 = check(exact, MonitorPrecision::float32);
  std::printf("exact solve at init: float64 monitor %.3g, float32 monitor %.3g\n",
              c64.first.rel_error, c32.first.rel_error);
  EXPECT_LT(c64.first.rel_error, 1e-12);
  EXPECT_LT(c64.bias.bias_ratio, 1e-12);
  // float32 reads its own rounding: far above float64's reading, far below any MGRIT error.
  EXPECT_GT(c32.first.rel_error, 100 * c64.first.rel_error);
  EXPECT_LT(c32.first.rel_error, 1e-5);
}

TEST_F(Monitor, FewIterationsReadTheSameErrorInBothPrecisions) {
  const RunConfig few = config(2, 1);
  const GradientCheck c64 = check(few, MonitorPrecision::float64);
  const GradientCheck c32 = check(few, MonitorPrecision::float32);
  EXPECT_GT(c64.first.rel_error, 1e-4);
  EXPECT_NEAR(c64.first.rel_error, c32.first.rel_error, 1e-4 * c64.first.rel_error);
  EXPECT_NEAR(c64.first.cosine, c32.first.cosine, 1e-5);
  EXPECT_NEAR(c64.bias.bias_ratio, c32.bias.bias_ratio, 1e-4 * c64.bias.bias_ratio);
}

}  // namespace
