// Training checkpoints (train/run_checkpoint.hpp) at the level of one file: a round trip keeps
// every parameter, the optimizer's state per tensor and the run state; a rank holding part of the
// model (ParamStore roles) reads exactly its part; a version-1 file (optimizer state as one array
// over the whole arena) still loads. The trainer-level tests (resume on any rank count) are in
// tests/mpi/test_train_ranks.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "optim/optim.hpp"
#include "train/run_checkpoint.hpp"
#include "util/checkpoint_io.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

namespace fs = std::filesystem;

ModelConfig tiny_gpt() {
  ModelConfig c;
  c.d_model = 8, c.heads = 2, c.d_ff = 16, c.layers = 3, c.vocab = 13, c.max_len = 6;
  return c;
}

// Values and moments that differ from element to element and from tensor to tensor.
void fill(ParamStore<float>& p, AdamW<float>& opt) {
  for (const ParamEntry& e : p.entries()) {
    if (!e.present()) continue;
    for (std::size_t i = 0; i < e.numel; ++i) {
      p.values()[e.offset + i] = float(e.index) + 0.001f * float(i);
      if (!e.owned()) continue;
      opt.state("m")[e.offset + i] = -float(e.index) - 0.002f * float(i);
      opt.state("v")[e.offset + i] = 0.5f * float(e.index) + 0.003f * float(i);
    }
  }
  opt.set_step_count(17);
}

class RunCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dir_); }
  void TearDown() override { fs::remove_all(dir_); }
  RunState state() const {
    RunState s;
    s.step = 17;
    s.data_state = {1, 2, 3};
    s.record_rows["/train/loss"] = 17;
    s.control = {3.0, 1.0};
    return s;
  }
  // One folder per test: ctest -j runs this fixture's tests at once, and TearDown removes it.
  const std::string dir_ =
      (fs::temp_directory_path() /
       ("lpt_run_checkpoint_" +
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())))
          .string();
  const std::string path_ = dir_ + "/run.ckpt.h5";
};

TEST_F(RunCheckpoint, RoundTripKeepsParametersStateAndRunState) {
  auto a = make_model<float>("gpt", tiny_gpt());
  AdamW<float> oa(a->params().size());
  fill(a->params(), oa);
  save_checkpoint(path_, "{}", nullptr, a->params(), oa, state(), ParamShards());
  auto b = make_model<float>("gpt", tiny_gpt());
  AdamW<float> ob(b->params().size());
  const RunState s = load_checkpoint(path_, b->params(), ob);
  const std::size_t n = a->params().size();
  EXPECT_EQ(std::vector<float>(a->params().values(), a->params().values() + n),
            std::vector<float>(b->params().values(), b->params().values() + n));
  for (const char* st : {"m", "v"})
    for (const ParamEntry& e : a->params().entries())
      for (std::size_t i = 0; i < e.numel; ++i)
        ASSERT_EQ(oa.state(st)[e.offset + i], ob.state(st)[e.offset + i]) << st << " " << e.name;
  EXPECT_EQ(ob.step_count(), 17);
  EXPECT_EQ(s.step, 17);
  EXPECT_EQ(s.data_state, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(s.record_rows.at("/train/loss"), 17);
  EXPECT_EQ(s.control, (std::vector<double>{3.0, 1.0}));
  // Parameters keep their documented names (docs/parameters.md), so any reader finds them.
  CheckpointReader r(path_);
  EXPECT_EQ(r.read<float>("params/layers.1.mlp.fc_w").size(), 16u * 8u);
  EXPECT_EQ(r.read<float>("optimizer/m/layers.1.mlp.fc_w").size(), 16u * 8u);
}

// A rank of a split model reads the tensors it holds (owned and ghost) and the optimizer state
// of the ones it owns, from a file the whole model wrote.
TEST_F(RunCheckpoint, SplitModelReadsItsPart) {
  auto whole = make_model<float>("gpt", tiny_gpt());
  AdamW<float> ow(whole->params().size());
  fill(whole->params(), ow);
  save_checkpoint(path_, "{}", nullptr, whole->params(), ow, state(), ParamShards());
  ModelConfig c = tiny_gpt();
  c.roles = [](const std::string& name) {
    if (name.rfind("layers.1.", 0) == 0) return ParamRole::owned;
    if (name.rfind("layers.2.", 0) == 0) return ParamRole::ghost;
    return ParamRole::absent;
  };
  auto part = make_model<float>("gpt", c);
  AdamW<float> op(part->params().size());
  load_checkpoint(path_, part->params(), op);
  const ParamStore<float>& w = whole->params();
  const ParamStore<float>& p = part->params();
  int held = 0;
  for (const ParamEntry& e : p.entries()) {
    if (!e.present()) continue;
    ++held;
    const ParamEntry& f = w.entry(e.name);
    for (std::size_t i = 0; i < e.numel; ++i) {
      ASSERT_EQ(p.values()[e.offset + i], w.values()[f.offset + i]) << e.name;
      if (e.owned()) {
        ASSERT_EQ(op.state("v")[e.offset + i], ow.state("v")[f.offset + i]) << e.name;
      }
    }
  }
  EXPECT_EQ(held, 24);  // two layers of 12 tensors
  EXPECT_EQ(op.step_count(), 17);
}

// Version 1 stored each optimizer state as one array over the whole arena (padding included).
TEST_F(RunCheckpoint, VersionOneFilesStillLoad) {
  auto a = make_model<float>("gpt", tiny_gpt());
  AdamW<float> oa(a->params().size());
  fill(a->params(), oa);
  const ParamStore<float>& p = a->params();
  {
    CheckpointWriter w(path_);
    w.set_attr("format", "lpt-train-checkpoint");
    w.set_attr("version", 1LL);
    w.set_attr("step", 17LL);
    w.put_string("config", "{}");
    w.put_string("tokenizers", "null");
    for (const ParamEntry& e : p.entries())
      w.put("params/" + e.name, p.values() + e.offset, Shape(e.shape));
    const std::int64_t count = 17;
    w.put("optimizer/step_count", &count, Shape{1});
    for (const char* st : {"m", "v"})
      w.put(std::string("optimizer/") + st, oa.state(st),
            Shape{static_cast<std::int64_t>(p.size())});
    w.put("data/state", std::vector<std::uint64_t>{1, 2, 3});
    w.commit();
  }
  auto b = make_model<float>("gpt", tiny_gpt());
  AdamW<float> ob(b->params().size());
  const RunState s = load_checkpoint(path_, b->params(), ob);
  for (const char* st : {"m", "v"})
    for (const ParamEntry& e : p.entries())
      for (std::size_t i = 0; i < e.numel; ++i)
        ASSERT_EQ(oa.state(st)[e.offset + i], ob.state(st)[e.offset + i]) << st << " " << e.name;
  EXPECT_EQ(s.step, 17);
}

TEST_F(RunCheckpoint, OtherVersionsAreRefusedByNumber) {
  {
    CheckpointWriter w(path_);
    w.set_attr("format", "lpt-train-checkpoint");
    w.set_attr("version", 7LL);
    w.commit();
  }
  auto b = make_model<float>("gpt", tiny_gpt());
  AdamW<float> ob(b->params().size());
  try {
    load_checkpoint(path_, b->params(), ob);
    FAIL() << "version 7 loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint version 7"), std::string::npos) << e.what();
  }
}

// train.init_from: the checkpoint's parameters replace the initialization, except the tensors
// whose names start with a train.init_skip prefix; the optimizer is not touched. A tensor the
// checkpoint lacks or has in another shape is an error naming it and train.init_skip.
TEST_F(RunCheckpoint, InitFromReadsParametersAndKeepsSkippedOnes) {
  auto a = make_model<float>("gpt", tiny_gpt());
  AdamW<float> oa(a->params().size());
  fill(a->params(), oa);
  save_checkpoint(path_, "{}", nullptr, a->params(), oa, state(), ParamShards());

  auto b = make_model<float>("gpt", tiny_gpt());
  b->init(5);
  const std::vector<float> init(b->params().values(), b->params().values() + b->params().size());
  const InitFromReport r = init_from_checkpoint(path_, b->params(), split_prefixes(" lnf_, wpe"));
  EXPECT_EQ(r.checkpoint_step, 17);
  EXPECT_EQ(r.skipped, (std::vector<std::string>{"wpe", "lnf_w", "lnf_b"}));
  EXPECT_EQ(r.loaded + r.skipped.size(), b->params().entries().size());
  for (const ParamEntry& e : b->params().entries()) {
    const bool skipped = e.name == "wpe" || e.name.rfind("lnf_", 0) == 0;
    for (std::size_t i = 0; i < e.numel; ++i)
      ASSERT_EQ(b->params().values()[e.offset + i],
                skipped ? init[e.offset + i] : a->params().values()[e.offset + i])
          << e.name;
  }

  ModelConfig wide = tiny_gpt();
  wide.vocab = 14;  // wte [14, 8] against the checkpoint's [13, 8]
  auto c = make_model<float>("gpt", wide);
  try {
    init_from_checkpoint(path_, c->params(), {});
    FAIL() << "a shape mismatch must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'wte' is [13, 8]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("train.init_skip"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(init_from_checkpoint(path_, c->params(), {"wte"}));
  ModelConfig deeper = tiny_gpt();
  deeper.layers = 4;
  auto d = make_model<float>("gpt", deeper);
  EXPECT_THROW(init_from_checkpoint(path_, d->params(), {}), Error);
  EXPECT_THROW(init_from_checkpoint(path_, b->params(), {"nothing_"}), Error);
  EXPECT_THROW(init_from_checkpoint(dir_ + "/missing.h5", b->params(), {}), Error);
}

TEST(SplitPrefixes, DropsBlanksAndEmptyParts) {
  EXPECT_EQ(split_prefixes(""), std::vector<std::string>{});
  EXPECT_EQ(split_prefixes(" head_ ,, patch_w,"), (std::vector<std::string>{"head_", "patch_w"}));
}

}  // namespace
}  // namespace lpt
