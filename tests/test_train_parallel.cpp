// `lpt train` in the layer-parallel modes, end to end on tiny data sets: enough MGRIT iterations
// reproduce serial training's losses for every family; an exact forward reproduces the first
// loss bit for bit; the record holds the solves, the gradient checks and the decisions; a low η
// makes an adaptive run raise its iterations and then switch to serial; and an adaptive run
// resumes bit-identically (the controller's state travels in the checkpoint).
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "data_fixture.hpp"
#include "train/config.hpp"
#include "train/trainer.hpp"
#include "record_fixture.hpp"
#include "train_fixture.hpp"

namespace {

using lpt::test::read_event_field;
using lpt::test::read_series;
using json = nlohmann::json;

class TrainParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    lpt::test::write_tiny_english(dir_);
    lpt::test::write_tiny_digits(dir_);
    lpt::test::write_tiny_en_es(dir_);
  }
  // Four steps of depth 4 (mt: 2 + 2) in `mode`; MGRIT with two levels of cfactor 2.
  lpt::RunConfig config(const std::string& family, const std::string& name,
                        std::vector<std::string> sets = {}) {
    json model = {{"family", family}, {"d_model", 16}, {"heads", 2}, {"d_ff", 32},
                  {"step_size", "T/N"}, {"dropout", family == "bert" ? 0.1 : 0.0}};
    json data = {{"dir", dir_}, {"val_fraction", 0.1}};
    if (family == "mt") {
      model["enc_layers"] = 2, model["dec_layers"] = 2, model["src_len"] = 24,
      model["tgt_len"] = 16;
      data["name"] = "en_es";
    } else if (family == "vit") {
      model["layers"] = 4, model["patch"] = 4, model["image"] = {1, 8, 8};
      data["name"] = "digits";
    } else {
      model["layers"] = 4, model["seq_len"] = 16;
      data["name"] = "english";
    }
    json j = {{"model", model},
              {"data", data},
              {"train", {{"steps", 4}, {"batch", 4}, {"lr", 3e-3}, {"warmup", 1},
                         {"eval_every", 0}}},
              {"solver", {{"mgrit", {{"forward", {{"levels", 2}, {"cfactor", 2}}},
                                     {"backward", {{"levels", 2}, {"cfactor", 2}}}}}}},
              {"monitor", {{"every", 0}}},
              {"output", {{"file", dir_ + "/" + name + ".h5"}, {"log_every", 100}}}};
    return lpt::resolve_config(j, sets);
  }
  lpt::TrainSummary run(const lpt::RunConfig& c, long stop_after = -1, std::string resume = "") {
    return lpt::test::run_train(c, log_, stop_after, std::move(resume));
  }
  lpt::test::TempDir tmp_{"lpt_train_par"};
  const std::string dir_ = tmp_.path;
  std::ostringstream log_;
};

TEST_F(TrainParallel, EnoughIterationsReproduceSerialLossesForEveryFamily) {
  for (const char* fam : {"gpt", "bert", "vit", "mt"}) {
    SCOPED_TRACE(fam);
    const auto ser = config(fam, std::string(fam) + "_ser");
    // 4 steps, cfactor 2: MGRIT with F-relaxation is exact after N/m = 2 iterations; 4 leaves
    // only rounding.
    const auto par = config(fam, std::string(fam) + "_par",
                            {"solver.mode=parallel", "solver.mgrit.forward.iterations=4",
                             "solver.mgrit.backward.iterations=4"});
    run(ser);
    run(par);
    const auto a = read_series(ser.output.file, "/train/loss");
    const auto b = read_series(par.output.file, "/train/loss");
    ASSERT_EQ(a.size(), 4u);
    ASSERT_EQ(b.size(), 4u);
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_NEAR(b[i], a[i], 1e-5 * std::abs(a[i])) << "step " << i;
    EXPECT_EQ(read_series(par.output.file, "/solver/forward/iterations"),
              (std::vector<double>{4, 4, 4, 4}));
  }
}

TEST_F(TrainParallel, SolverThreadsGiveTheSameRun) {
  // F-intervals on two OpenMP threads inside the rank: the same arithmetic per point, so the
  // same bits as one thread (each layer's ops single-threaded in both runs).
  const std::vector<std::string> sets = {"solver.mode=parallel", "model.layers=8",
                                         "train.threads=1", "monitor.every=2"};
  auto one = sets, two = sets;
  two.push_back("solver.threads=2");
  const auto a = config("gpt", "one", one);
  const auto b = config("gpt", "two", two);
  run(a);
  run(b);
  for (const char* d : {"/train/loss", "/train/grad_norm", "/monitor/rel_error"})
    EXPECT_EQ(read_series(a.output.file, d), read_series(b.output.file, d)) << d;
}

TEST_F(TrainParallel, WarmStartChangesOnlyTheSolvesAfterTheFirst) {
  const std::vector<std::string> sets = {"solver.mode=parallel", "model.layers=8",
                                         "solver.mgrit.forward.iterations=1"};
  auto warm = sets;
  warm.push_back("solver.warm_start=true");
  const auto c = config("gpt", "cold", sets), w = config("gpt", "warm", warm);
  run(c);
  run(w);
  const auto lc = read_series(c.output.file, "/train/loss");
  const auto lw = read_series(w.output.file, "/train/loss");
  EXPECT_EQ(lc[0], lw[0]);  // nothing to start from at step 0
  EXPECT_NE(lc[1], lw[1]);  // then the previous step's states are the initial guess
  EXPECT_NE(log_.str().find("warm start"), std::string::npos);
}

TEST_F(TrainParallel, ExactForwardGivesSerialFirstLossBitForBit) {
  const auto ser = config("gpt", "ser");
  const auto sf = config("gpt", "sf", {"solver.mode=serial_forward"});
  run(ser);
  run(sf);
  EXPECT_EQ(read_series(sf.output.file, "/train/loss")[0],
            read_series(ser.output.file, "/train/loss")[0]);
  EXPECT_EQ(read_series(sf.output.file, "/solver/mode"), (std::vector<double>{2, 2, 2, 2}));
}

TEST_F(TrainParallel, RecordHoldsSolvesAndGradientChecks) {
  const auto c = config("gpt", "rec",
                        {"solver.mode=parallel", "monitor.every=2", "monitor.batches=3",
                         "solver.mgrit.forward.iterations=1"});
  run(c);
  const std::string f = c.output.file;
  EXPECT_EQ(read_series(f, "/solver/step"), (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(read_series(f, "/solver/mode"), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(read_series(f, "/solver/configured_iterations"),
            (std::vector<double>{1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(read_series(f, "/solver/adjoint/iterations").size(), 4u);
  EXPECT_EQ(read_series(f, "/solver/forward/residuals/offsets").size(), 5u);  // 4 series
  EXPECT_EQ(read_series(f, "/solver/forward/timers").size(), 4u * 6u);       // one rank
  EXPECT_EQ(read_series(f, "/monitor/step"), (std::vector<double>{0, 2}));
  EXPECT_EQ(read_series(f, "/monitor/batches"), (std::vector<double>{3, 3}));
  for (double e : read_series(f, "/monitor/rel_error")) {
    EXPECT_GT(e, 0) << "one iteration is not exact";
    EXPECT_LT(e, 1);
  }
  for (double cs : read_series(f, "/monitor/cosine")) EXPECT_GT(cs, 0.5);
  // opening, 4 layers, closing
  EXPECT_EQ(read_series(f, "/monitor/segment_cosine").size(), 2u * 6u);
  // Non-adaptive: checks are measured and recorded, no decision is taken.
  const auto actions = read_event_field(f, "/control/events", "action");
  EXPECT_EQ(actions, (std::vector<std::string>{"start"}));
}

TEST_F(TrainParallel, LowEtaMakesAnAdaptiveRunRaiseThenSwitchToSerial) {
  const auto c = config("gpt", "adapt",
                        {"solver.mode=adaptive", "model.layers=8", "train.steps=9",
                         "monitor.every=2",
                         "monitor.batches=2", "control.eta=1e-9", "control.patience=2",
                         "control.recheck=1", "control.raise_order=both", "control.alarm_growth=0",
                         "control.action=raise",
                         "solver.mgrit.forward.iterations=1", "control.max_forward_iterations=2",
                         "control.max_backward_iterations=2"});
  const auto s = run(c);
  EXPECT_EQ(s.final_mode, "serial");
  const std::string f = c.output.file;
  // Checks at steps 0 and 2 -> raise to 2/2 (the caps; on 8 layers with cfactor 2, two
  // iterations are not yet exact); the recheck at 3 finds the bias more than halved, but still
  // above eta (hold, strike 1); the check at 5 is the second strike -> serial at the caps.
  // Steps 6 to 8 are serial: no checks.
  EXPECT_EQ(read_series(f, "/monitor/step"), (std::vector<double>{0, 2, 3, 5}));
  const auto actions = read_event_field(f, "/control/events", "action");
  EXPECT_EQ(actions, (std::vector<std::string>{"start", "hold", "raise", "hold", "serial"}));
  EXPECT_EQ(read_series(f, "/solver/mode"), (std::vector<double>{1, 1, 1, 1, 1, 1, 0, 0, 0}));
  const auto it = read_series(f, "/solver/configured_iterations");
  EXPECT_EQ(it[2 * 2], 1);  // step 2 still at 1/1: the raise applies from step 3
  EXPECT_EQ(it[3 * 2], 2);
  EXPECT_EQ(read_series(f, "/solver/step").size(), 6u);  // no solves once serial
  const auto reasons = read_event_field(f, "/control/events", "reason");
  EXPECT_NE(reasons[2].find("eta"), std::string::npos) << reasons[2];
  EXPECT_NE(log_.str().find("-> serial"), std::string::npos) << log_.str();

  // The analysis script reads the same record: its table names the actions with their steps.
  if (std::system("/usr/bin/python3 -c 'import h5py, matplotlib' 2>/dev/null") != 0)
    GTEST_SKIP() << "/usr/bin/python3 lacks h5py or matplotlib (bash scripts/setup.sh)";
  const std::string script = std::string("/usr/bin/python3 ") + LPT_SOURCE_DIR +
                             "/analysis/plot_bias.py " + f;
  const std::string table = dir_ + "/summary.md", png = dir_ + "/bias.png";
  ASSERT_EQ(std::system((script + " --labels adaptive --summary > " + table).c_str()), 0);
  std::ifstream t(table);
  const std::string text((std::istreambuf_iterator<char>(t)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("raise@2; serial@5"), std::string::npos) << text;
  ASSERT_EQ(std::system((script + " -o " + png + " > /dev/null").c_str()), 0);
  const std::string layers = dir_ + "/layers.png";
  ASSERT_EQ(std::system((script + " --layers -o " + layers + " > /dev/null").c_str()), 0);
  EXPECT_TRUE(std::ifstream(layers).good());
  EXPECT_TRUE(lpt::test::is_png(png));
}

TEST_F(TrainParallel, AdaptiveRunResumesBitIdentically) {
  const std::vector<std::string> sets = {
      "solver.mode=adaptive", "model.layers=8", "train.steps=9", "monitor.every=2",
      "monitor.batches=2",
      "control.eta=1e-9", "control.patience=2", "solver.mgrit.forward.iterations=1",
      "control.max_forward_iterations=2", "control.max_backward_iterations=2",
      "control.recheck=1", "control.action=raise", "output.checkpoint_every=2"};
  auto whole = config("gpt", "whole", sets);
  auto part = config("gpt", "part", sets);
  whole.output.checkpoint = dir_ + "/whole.ckpt.h5";
  part.output.checkpoint = dir_ + "/part.ckpt.h5";
  run(whole);
  // Killed after the checkpoint at step 2, between a raise and the recheck that judges it: the
  // pending recheck, the schedule, the alarm's references and the trend's readings must all come
  // back from the checkpoint for the run to continue bit for bit.
  run(part, /*stop_after=*/3);
  const auto s = run(part, -1, part.output.checkpoint);
  EXPECT_EQ(s.final_mode, "serial");
  for (const char* d : {"/train/loss", "/train/grad_norm", "/solver/mode", "/monitor/step",
                        "/monitor/rel_error", "/solver/forward/residual"})
    EXPECT_EQ(read_series(whole.output.file, d), read_series(part.output.file, d)) << d;
  auto wa = read_event_field(whole.output.file, "/control/events", "action");
  auto pa = read_event_field(part.output.file, "/control/events", "action");
  // The resumed record notes where it continued: after "start" and the decisions of the checks
  // before the checkpoint's step.
  const auto checks = read_series(whole.output.file, "/monitor/step");
  const long before = std::count_if(checks.begin(), checks.end(), [](double s) { return s < 2; });
  ASSERT_LT(before, long(checks.size())) << "the resumed half must decide something";
  ASSERT_EQ(wa[before], "raise") << "the checkpoint must fall between a raise and its recheck";
  wa.insert(wa.begin() + 1 + before, "resume");
  EXPECT_EQ(wa, pa);
}

}  // namespace
