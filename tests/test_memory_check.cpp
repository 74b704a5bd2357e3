// The up-front memory estimate of lpt train (train/memory_check.hpp): absurd models are
// refused before anything is allocated, the override is a config key, and the estimate tracks the
// peak RSS of a real run within a stated factor (docs/memory.md).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "train/config.hpp"
#include "train/memory_check.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

RunConfig small(std::vector<std::string> extra = {}) {
  std::vector<std::string> sets{"model.layers=4", "model.d_model=128", "model.heads=4",
                                "model.seq_len=128", "train.batch=16"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return resolve_config(nlohmann::json::object(), sets);
}

TEST(MemoryCheck, AbsurdDepthIsRefusedWithTheEstimateAndTheOverride) {
  // The largest depth and a wide model that the config's ranges still accept: about 50M
  // parameters per layer, 16 bytes each with gradient and AdamW moments, over 65536 layers.
  const RunConfig cfg = small({"model.layers=65536", "model.d_model=2048", "model.d_ff=8192"});
  const MemoryEstimate e = estimate_train_memory(cfg, 1);
  EXPECT_GT(e.total_bytes, 1e13);
  try {
    check_train_memory(e, 8.0 * 1024 * 1024 * 1024);
    FAIL() << "not refused";
  } catch (const Error& err) {
    const std::string m = err.what();
    EXPECT_NE(m.find("8 GiB available"), std::string::npos) << m;
    EXPECT_NE(m.find("train.check_memory = false"), std::string::npos) << m;
  }
}

TEST(MemoryCheck, FittingRunAndUnknownMemoryPass) {
  const MemoryEstimate e = estimate_train_memory(small(), 1);
  EXPECT_NO_THROW(check_train_memory(e, e.total_bytes * 1.01));
  EXPECT_NO_THROW(check_train_memory(e, -1));  // no /proc/meminfo: no check
  EXPECT_THROW(check_train_memory(e, e.total_bytes * 0.99), Error);
}

TEST(MemoryCheck, OverrideKeyParses) {
  EXPECT_TRUE(small().train.check_memory);
  EXPECT_FALSE(small({"train.check_memory=false"}).train.check_memory);
}

// Tapes and states split over the ranks in every mode (serial on P ranks too); the model itself
// does not: every rank holds all parameters, gradients and moments, 16 bytes each.
TEST(MemoryCheck, MoreRanksNeedLessPerRankButNeverLessThanTheWholeModel) {
  for (const char* mode : {"solver.mode=parallel", "solver.mode=serial"}) {
    const RunConfig cfg = small({"model.layers=64", mode});
    const double one = estimate_train_memory(cfg, 1).model_bytes;
    const double eight = estimate_train_memory(cfg, 8).model_bytes;
    EXPECT_LT(eight, one) << mode;
    const double per_layer = 12.0 * 128 * 128 + 13.0 * 128;  // d 128, d_ff 4d: weights + biases
    EXPECT_GT(eight, 64 * per_layer * 16) << mode;
  }
}

TEST(MemoryCheck, AvailableMemoryIsReadOnLinux) {
  EXPECT_GT(available_memory_bytes(), 0);
}

// The estimate against the peak RSS of `lpt train` on the same model (3 steps). docs/memory.md
// records the measured ratios; the factor 2 either way is the stated tolerance.
TEST(MemoryCheck, EstimateWithinFactorTwoOfPeakRss) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory and redzones inflate the peak RSS";
#endif
  const std::string lpt = std::string(LPT_BINARY_DIR) + "/lpt";
  const std::string data = std::string(LPT_SOURCE_DIR) + "/data";
  if (!std::ifstream(data + "/english/meta.json")) GTEST_SKIP() << "english data not prepared";
  const std::string dir = ::testing::TempDir() + "/memcheck";
  const std::string cmd = "mkdir -p " + dir + " && cd " + dir + " && " + lpt +
                          " train --no-tty --set model.layers=4 --set model.d_model=128 "
                          "--set model.heads=4 --set model.seq_len=128 --set train.batch=16 "
                          "--set train.steps=3 --set train.warmup=1 --set train.threads=1 "
                          "--set train.eval_every=0 --set data.dir=" + data + " >/dev/null";
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd;
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  const double rss = double(ru.ru_maxrss) * 1024;
  const double est = estimate_train_memory(small(), 1).total_bytes;
  EXPECT_GT(est, rss / 2) << "estimate " << est << " B, peak RSS " << rss << " B";
  EXPECT_LT(est, rss * 2) << "estimate " << est << " B, peak RSS " << rss << " B";
  RecordProperty("estimate_over_rss", std::to_string(est / rss));
  std::printf("estimate %.1f MiB, peak RSS %.1f MiB, ratio %.2f\n", est / 1048576, rss / 1048576,
              est / rss);
}

}  // namespace
}  // namespace lpt
