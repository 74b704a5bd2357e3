// `lpt train` end to end on a tiny corpus: the record's contents, bitwise resume, the NaN stop,
// and the errors a user meets first.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "data_fixture.hpp"
#include "record_fixture.hpp"
#include "train_fixture.hpp"
#include "input/text.hpp"
#include "input/translation.hpp"
#include "train/config.hpp"
#include "train/task.hpp"
#include "train/trainer.hpp"
#include "util/checkpoint_io.hpp"
#include "util/error.hpp"

namespace {


using lpt::test::read_root_attr;
using lpt::test::read_series;

class TrainRun : public ::testing::Test {
 protected:
  void SetUp() override {
    lpt::test::write_tiny_english(dir_);
  }
  // A GPT small enough for a step to take milliseconds.
  lpt::RunConfig config(const std::string& name, std::vector<std::string> sets = {}) {
    nlohmann::json j = {
        {"model", {{"family", "gpt"}, {"layers", 2}, {"d_model", 16}, {"heads", 2},
                   {"d_ff", 32}, {"seq_len", 16}}},
        {"data", {{"name", "english"}, {"dir", dir_}, {"val_fraction", 0.1}}},
        {"train", {{"steps", 12}, {"batch", 4}, {"lr", 3e-3}, {"warmup", 2},
                   {"eval_every", 4}, {"eval_batches", 2}}},
        {"output", {{"file", dir_ + "/" + name + ".h5"},
                    {"checkpoint", dir_ + "/" + name + ".ckpt.h5"},
                    {"checkpoint_every", 5}, {"log_every", 100}}}};
    return lpt::resolve_config(j, sets);
  }
  lpt::TrainSummary run(const lpt::RunConfig& c, long stop_after = -1, std::string resume = "") {
    return lpt::test::run_train(c, log_, stop_after, std::move(resume));
  }
  lpt::test::TempDir tmp_{"lpt_train"};
  const std::string dir_ = tmp_.path;
  std::ostringstream log_;
};

// k micro-batches of b are one batch of k·b (the GPT loader draws rows in order from one stream,
// and every row has the same number of targets, so the mean of the micro-batch means is the
// batch mean): the same losses and gradient norms up to float32 summation order, serial and
// layer-parallel alike (MGRIT's iterates are per sequence: fixed iteration counts, no batch
// coupling). One micro-batch is the plain step, bit for bit.
TEST_F(TrainRun, AccumulatedMicroBatchesEqualOneLargeBatch) {
  for (const std::string mode : {"serial", "parallel"}) {
    const std::vector<std::string> common = {"solver.mode=" + mode, "monitor.every=0",
                                             "model.layers=4", "train.steps=8"};
    auto with = [&](const std::string& name, std::vector<std::string> extra) {
      extra.insert(extra.end(), common.begin(), common.end());
      return config(mode + name, extra);
    };
    const auto whole = with("whole", {"train.batch=8"});
    // Evaluation draws train.eval_batches batches of train.batch items: twice as many here.
    const auto micro =
        with("micro", {"train.batch=4", "train.accumulate=2", "train.eval_batches=4"});
    const auto one = with("one", {"train.batch=8", "train.accumulate=1"});
    run(whole);
    run(micro);
    run(one);
    for (const char* d : {"/train/loss", "/train/grad_norm", "/eval/loss"}) {
      const auto a = read_series(whole.output.file, d), b = read_series(micro.output.file, d);
      ASSERT_EQ(a.size(), b.size()) << d;
      for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(b[i], a[i], 2e-5 * std::abs(a[i])) << mode << " " << d << " row " << i;
      EXPECT_EQ(read_series(one.output.file, d), a) << mode << " " << d;
    }
  }
}

// With micro-batches the solver records one row per solve (train.accumulate rows per step) and
// the gradient check runs once per due step, on the last micro-batch.
TEST_F(TrainRun, AccumulationRecordsEverySolveAndChecksOncePerStep) {
  const auto c = config("acc", {"solver.mode=adaptive", "monitor.every=2", "train.steps=6",
                                "train.accumulate=3", "model.layers=4"});
  run(c);
  const auto solver_steps = read_series(c.output.file, "/solver/step");
  EXPECT_EQ(solver_steps.size(), 18u);
  EXPECT_EQ(solver_steps[3], 1.0);
  EXPECT_EQ(read_series(c.output.file, "/monitor/step"), (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(read_series(c.output.file, "/train/loss").size(), 6u);
}

TEST_F(TrainRun, RecordHoldsEveryStepAndTheRunInfo) {
  const auto c = config("rec");
  const auto s = run(c);
  EXPECT_EQ(s.steps, 12);
  const std::string f = c.output.file;
  EXPECT_EQ(read_series(f, "/train/loss").size(), 12u);
  EXPECT_EQ(read_series(f, "/train/lr").size(), 12u);
  EXPECT_EQ(read_series(f, "/train/grad_norm").size(), 12u);
  EXPECT_EQ(read_series(f, "/train/step_time").size(), 12u);
  EXPECT_EQ(read_series(f, "/train/phase_time").size(), 36u);  // 12 rows x 3 phases
  EXPECT_EQ(read_series(f, "/eval/step"), (std::vector<double>{4, 8, 12}));
  for (double v : read_series(f, "/eval/loss")) EXPECT_TRUE(std::isfinite(v));
  const auto loss = read_series(f, "/train/loss");
  EXPECT_LT(loss.back(), loss.front());  // 12 steps at lr 3e-3 already learn the unigram counts
  const auto cfg = nlohmann::json::parse(read_root_attr(f, "config"));
  EXPECT_EQ(cfg["model"]["layers"], 2);
  EXPECT_FALSE(read_root_attr(f, "lpt_version").empty());
  EXPECT_FALSE(read_root_attr(f, "hostname").empty());
  EXPECT_FALSE(read_root_attr(f, "start_time").empty());
  // Peak memory after the first step, at every evaluation and at the end (one rank: one column),
  // non-decreasing, and at least what the model's parameters, gradients and moments take.
  EXPECT_EQ(read_series(f, "/memory/step"), (std::vector<double>{1, 4, 8, 12}));
  const auto rss = read_series(f, "/memory/peak_rss");
  ASSERT_EQ(rss.size(), 4u);
  for (std::size_t i = 1; i < rss.size(); ++i) EXPECT_GE(rss[i], rss[i - 1]);
  EXPECT_GT(rss.front(), 0.0);
}

TEST_F(TrainRun, ResumedRunIsBitwiseIdenticalToAnUninterruptedOne) {
  const auto whole = config("whole");
  run(whole);
  const auto part = config("part");
  run(part, /*stop_after=*/5);  // as if killed after the checkpoint at step 5
  EXPECT_EQ(read_series(part.output.file, "/train/loss").size(), 5u);
  run(part, -1, part.output.checkpoint);
  const auto a = read_series(whole.output.file, "/train/loss");
  const auto b = read_series(part.output.file, "/train/loss");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i;
  EXPECT_EQ(read_series(whole.output.file, "/eval/loss"),
            read_series(part.output.file, "/eval/loss"));
  EXPECT_EQ(read_series(whole.output.file, "/train/grad_norm"),
            read_series(part.output.file, "/train/grad_norm"));
}

// output.keep_checkpoints keeps each checkpoint as NAME.step<N>.h5; train.init_from starts a run
// from one of them. With a learning rate too small to move a float32 weight, one step later the
// model still has the checkpoint's weights, so its validation loss is the one the original run
// measured at that step (evaluation reads the first validation batches, whatever the seed).
TEST_F(TrainRun, InitFromStartsFromTheKeptCheckpointsWeights) {
  const auto base = config("base", {"output.keep_checkpoints=true", "output.checkpoint_every=4"});
  run(base);
  for (const char* s : {"step4", "step8", "step12"})
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/base.ckpt." + s + ".h5")) << s;
  const auto eval = read_series(base.output.file, "/eval/loss");  // after steps 4, 8, 12
  ASSERT_EQ(eval.size(), 3u);
  auto replay = [&](const std::string& name, std::vector<std::string> sets) {
    for (const char* k : {"train.steps=1", "train.eval_every=1", "train.lr=1e-30",
                          "train.min_lr=0", "train.warmup=0", "train.schedule=\"constant\"",
                          "train.seed=9", "output.checkpoint=\"\""})
      sets.push_back(k);
    const auto c = config(name, sets);
    run(c);
    return read_series(c.output.file, "/eval/loss").at(0);
  };
  EXPECT_EQ(replay("a", {"train.init_from=\"" + dir_ + "/base.ckpt.step4.h5\""}), eval[0]);
  EXPECT_EQ(replay("b", {"train.init_from=\"" + dir_ + "/base.ckpt.step8.h5\""}), eval[1]);
  EXPECT_NE(replay("c", {}), eval[0]);  // without init_from: the seed's initialization
}

// F7's fine-tuning: a BERT pretrained as a masked LM on the english corpus loads into the
// classifier on the fortune categories (data.name fortunes). The classifier head is new, so
// init_from refuses until train.init_skip names it; with it, every encoder tensor starts at the
// checkpoint's value (a learning rate too small to move a float32 weight keeps them there), and
// the classifier learns the tiny set's topic words.
TEST_F(TrainRun, FortunesClassifierFineTunesAMaskedLmCheckpoint) {
  lpt::test::write_tiny_fortunes(dir_, 300);
  const std::vector<std::string> bert = {"model.family=\"bert\"", "monitor.every=0"};
  auto with = [&](const std::string& name, std::vector<std::string> sets) {
    sets.insert(sets.end(), bert.begin(), bert.end());
    return config(name, sets);
  };
  const auto pre = with("pre", {});
  run(pre);
  const std::string ckpt = pre.output.checkpoint;
  const std::vector<std::string> cls = {"data.name=\"fortunes\"", "model.n_classes=3",
                                        "train.init_from=\"" + ckpt + "\""};
  auto fine = [&](const std::string& name, const std::vector<std::string>& sets) {
    std::vector<std::string> all = cls;  // then the case's own, which may override them
    all.insert(all.end(), sets.begin(), sets.end());
    return with(name, all);
  };
  std::string msg;
  try {
    run(fine("noskip", {}));
  } catch (const lpt::Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("cls.dense_w"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.init_skip"), std::string::npos) << msg;
  try {
    run(fine("classes", {"model.n_classes=4", "train.init_skip=\"cls.\""}));
    msg.clear();
  } catch (const lpt::Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("set model.n_classes = 3"), std::string::npos) << msg;

  const auto still = fine("still", {"train.init_skip=\"cls.\"", "train.steps=1", "train.lr=1e-30",
                                    "train.min_lr=0", "train.warmup=0",
                                    "train.schedule=\"constant\""});
  run(still);
  lpt::CheckpointReader a(ckpt), b(still.output.checkpoint);
  for (const char* t : {"params/wte", "params/wpe", "params/layers.1.attn.qkv_w", "params/lnf_w"})
    EXPECT_EQ(a.read<float>(t), b.read<float>(t)) << t;
  EXPECT_FALSE(b.has("params/mlm.dense_w"));
  EXPECT_TRUE(b.has("params/cls.out_w"));

  const auto learn = fine("learn", {"train.init_skip=\"cls.\"", "train.steps=60",
                                    "train.eval_every=60", "train.eval_batches=100"});
  run(learn);
  const auto acc = read_series(learn.output.file, "/eval/metric");
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_GT(acc[0], 0.6) << "3 classes whose topic word is in the text: chance is 1/3";
}

TEST_F(TrainRun, NonFiniteLossStopsWithTheRecordAndCheckpointIntact) {
  // An absurd learning rate overflows the weights within a few steps.
  const auto c = config("nan", {"train.lr=1e30", "train.schedule=\"constant\"", "train.warmup=0",
                                "train.clip=0", "output.checkpoint_every=1"});
  std::string msg;
  try {
    run(c);
  } catch (const lpt::Error& e) {
    msg = e.what();
  }
  ASSERT_FALSE(msg.empty()) << "training with lr 1e30 did not stop";
  EXPECT_NE(msg.find("diverged at step"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.lr"), std::string::npos) << msg;
  const auto loss = read_series(c.output.file, "/train/loss");
  ASSERT_FALSE(loss.empty());
  for (double v : loss) EXPECT_TRUE(std::isfinite(v));
  lpt::CheckpointReader r(c.output.checkpoint);  // the last good one is readable
  EXPECT_EQ(r.attr_int("step"), static_cast<long long>(loss.size()));
}

TEST_F(TrainRun, MissingDataNamesTheFileAndThePrepareCommand) {
  auto c = config("missing", {"data.dir=\"" + dir_ + "/nowhere\""});
  try {
    run(c);
    FAIL() << "no error for a missing data set";
  } catch (const lpt::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("nowhere"), std::string::npos) << m;
    EXPECT_NE(m.find("prepare_data.sh"), std::string::npos) << m;
  }
}

TEST_F(TrainRun, ResumeFromSomethingElseIsRejected) {
  const auto c = config("bad");
  lpt::test::write_file(dir_ + "/not_a_ckpt.h5", "garbage");
  EXPECT_THROW(run(c, -1, dir_ + "/not_a_ckpt.h5"), lpt::Error);
}

}  // namespace

namespace {

TEST_F(TrainRun, PlotScriptDrawsTheRecord) {
  if (std::system("/usr/bin/python3 -c 'import h5py, matplotlib' 2>/dev/null") != 0)
    GTEST_SKIP() << "/usr/bin/python3 lacks h5py or matplotlib (bash scripts/setup.sh)";
  const auto c = config("plot");
  run(c);
  const std::string png = dir_ + "/loss.png";
  const std::string cmd = std::string("/usr/bin/python3 ") + LPT_SOURCE_DIR +
                          "/analysis/plot_loss.py " + c.output.file + " -o " + png +
                          " --metric > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_TRUE(lpt::test::is_png(png));
}

}  // namespace

namespace {

// Translation end to end on a tiny verse-aligned corpus: the evaluation path (teacher-forced
// loss, greedy decoding, BLEU) runs and lands in the record.
TEST_F(TrainRun, TranslationRecordsLossAndBleu) {
  lpt::test::write_tiny_en_es(dir_);
  nlohmann::json j = {
      {"model", {{"family", "mt"}, {"enc_layers", 2}, {"dec_layers", 2}, {"d_model", 16},
                 {"heads", 2}, {"d_ff", 32}, {"src_len", 24}, {"tgt_len", 16}}},
      {"data", {{"name", "en_es"}, {"dir", dir_}, {"val_fraction", 0.1}}},
      {"train", {{"steps", 4}, {"batch", 4}, {"warmup", 1}, {"eval_every", 2}, {"eval_batches", 1}}},
      {"output", {{"file", dir_ + "/mt.h5"}}}};
  const auto c = lpt::resolve_config(j);
  const auto s = run(c);
  EXPECT_EQ(s.metric_name, "bleu");
  EXPECT_GE(s.val_metric, 0.0);
  EXPECT_LE(s.val_metric, 100.0);
  EXPECT_EQ(read_series(c.output.file, "/eval/metric").size(), 2u);
  EXPECT_EQ(read_series(c.output.file, "/train/loss").size(), 4u);
}

// data.tokenizer = bpe end to end: the task learns one vocabulary per language from the training
// pairs of its split (the same vocabulary translation_bpe_tokenizers gives for them), saves it
// with the run, and trains and evaluates with it.
TEST_F(TrainRun, TranslationWithBpeTokenizer) {
  lpt::test::write_tiny_en_es(dir_);
  nlohmann::json j = {
      {"model", {{"family", "mt"}, {"enc_layers", 2}, {"dec_layers", 2}, {"d_model", 16},
                 {"heads", 2}, {"d_ff", 32}, {"src_len", 8}, {"tgt_len", 8}}},
      {"data", {{"name", "en_es"}, {"dir", dir_}, {"val_fraction", 0.1}, {"tokenizer", "bpe"},
                {"bpe_vocab", 40}}},
      {"train", {{"steps", 4}, {"batch", 4}, {"warmup", 1}, {"eval_every", 2}, {"eval_batches", 1}}},
      {"output", {{"file", dir_ + "/mt_bpe.h5"}}}};
  const auto c = lpt::resolve_config(j);
  const nlohmann::json saved = lpt::make_task(c)->tokenizers();
  EXPECT_EQ(saved["source"]["kind"], "bpe");
  EXPECT_EQ(saved["target"]["kind"], "bpe");
  EXPECT_LE(saved["target"]["vocab_size"].get<int>(), 40);

  const lpt::PairSet pairs = lpt::load_en_es(dir_);
  lpt::TranslationDataOptions o;
  o.val_fraction = c.data.val_fraction;
  o.split_seed = c.data.seed;
  const auto [src, tgt] = lpt::translation_bpe_tokenizers(
      pairs, lpt::translation_split(pairs.size(), o).train, 40, false);
  EXPECT_EQ(saved["source"], src.to_json());
  EXPECT_EQ(saved["target"], tgt.to_json());
  // "haya luz 3" is three pieces at most: the learned merges join each word.
  EXPECT_LE(tgt.encode("haya luz 3").size(), 5u);

  const auto s = run(c);
  EXPECT_EQ(s.metric_name, "bleu");
  EXPECT_GE(s.val_metric, 0.0);
  EXPECT_EQ(read_series(c.output.file, "/eval/metric").size(), 2u);

  // Byte tokens for translation are the 256 bytes after the four specials.
  j["data"]["tokenizer"] = "byte";
  const nlohmann::json bytes = lpt::make_task(lpt::resolve_config(j))->tokenizers();
  EXPECT_EQ(bytes["source"]["kind"], "byte");
  EXPECT_EQ(bytes["target"]["vocab_size"], 260);
}

}  // namespace
