// `mpirun -np P lpt train` gives the same run for every P: layer-parallel training on the world
// communicator (1-4 ranks) and on MPI_COMM_SELF in-process give bit-identical losses, gradient
// norms, residuals, gradient checks and controller decisions (with one OpenMP thread per rank,
// as ctest runs it). Run by ctest under mpirun on 1, 2, 3 and 4 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include "mpi_gtest_main.hpp"

#include <sstream>

#include "../data_fixture.hpp"
#include "../record_fixture.hpp"
#include "../train_fixture.hpp"
#include "train/config.hpp"
#include "train/trainer.hpp"
#include "util/error.hpp"

namespace {

using lpt::test::read_event_field;
using lpt::test::read_series;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

class TrainRanks : public ::testing::Test {
 protected:
  void SetUp() override {
    lpt::test::write_tiny_english(dir_);
    lpt::test::write_tiny_en_es(dir_);
    lpt::test::write_tiny_digits(dir_);
  }
  // Every rank builds the same config; only the record's folder differs (each rank's own).
  lpt::RunConfig config(const std::string& family, const std::string& name,
                        std::vector<std::string> sets) {
    nlohmann::json model = {{"family", family}, {"d_model", 16}, {"heads", 2}, {"d_ff", 32},
                            {"step_size", "T/N"}};
    nlohmann::json data = {{"dir", dir_}};
    if (family == "mt") {
      model["enc_layers"] = 4, model["dec_layers"] = 4, model["src_len"] = 24,
      model["tgt_len"] = 16;
      data["name"] = "en_es";
    } else if (family == "vit") {
      model["layers"] = 8, model["image"] = {1, 8, 8}, model["patch"] = 4;
      data["name"] = "digits";
    } else {
      model["layers"] = 8, model["seq_len"] = 16;
      data["name"] = "english";
    }
    nlohmann::json j = {
        {"model", model},
        {"data", data},
        {"train", {{"steps", 7}, {"batch", 4}, {"lr", 3e-3}, {"warmup", 1}, {"eval_every", 3},
                   {"eval_batches", 1}}},
        {"solver", {{"mgrit", {{"forward", {{"levels", 2}, {"cfactor", 2}, {"iterations", 1}}},
                               {"backward", {{"levels", 2}, {"cfactor", 2}, {"iterations", 1}}}}}}},
        {"monitor", {{"every", 2}, {"batches", 2}}},
        {"output", {{"file", dir_ + "/" + name + ".h5"}, {"log_every", 100}}}};
    return lpt::resolve_config(j, sets);
  }
  void run(const lpt::RunConfig& c, MPI_Comm comm) {
    lpt::test::run_train(c, log_, -1, "", comm);
  }
  // The world run against this rank's own one-rank run of the same config.
  void expect_rank_independent(const std::string& family, std::vector<std::string> sets) {
    const auto world = config(family, "world", sets);
    const auto self = config(family, "self", sets);
    run(world, MPI_COMM_WORLD);
    run(self, MPI_COMM_SELF);
    if (world_rank() != 0) return;
    for (const char* d : {"/train/loss", "/train/grad_norm", "/eval/loss", "/solver/mode",
                          "/solver/forward/residual", "/solver/adjoint/residual",
                          "/solver/forward/evals", "/monitor/rel_error", "/monitor/bias_ratio"})
      EXPECT_EQ(read_series(world.output.file, d), read_series(self.output.file, d))
          << d << " on " << world_size() << " ranks";
    EXPECT_EQ(read_event_field(world.output.file, "/control/events", "reason").size(),
              read_event_field(self.output.file, "/control/events", "reason").size());
    const auto w = read_event_field(world.output.file, "/control/events", "action");
    const auto s = read_event_field(self.output.file, "/control/events", "action");
    EXPECT_EQ(w, s);
    // The timers table has one block of six per rank.
    EXPECT_EQ(read_series(world.output.file, "/solver/forward/timers").size(),
              read_series(world.output.file, "/solver/step").size() * 6u * world_size());
  }
  // An adaptive run that checkpoints every 2 steps into CKPT.ckpt.h5 beside its record.
  lpt::RunConfig with_checkpoint(const std::string& name, const std::string& ckpt) {
    return config("gpt", name,
                  {"solver.mode=adaptive", "control.eta=0.05", "output.checkpoint_every=2",
                   "output.checkpoint=\"" + dir_ + "/" + ckpt + ".ckpt.h5\""});
  }
  // Steps 0-3 of `stopped`, then `resumed`'s steps, equal `whole`'s bit for bit.
  void expect_stitched(const lpt::RunConfig& stopped, const lpt::RunConfig& resumed,
                       const lpt::RunConfig& whole, const std::string& what) {
    for (const char* d : {"/train/loss", "/train/grad_norm", "/solver/mode"}) {
      std::vector<double> both = read_series(stopped.output.file, d);
      both.resize(4);
      for (double v : read_series(resumed.output.file, d)) both.push_back(v);
      EXPECT_EQ(both, read_series(whole.output.file, d)) << d << ": " << what << ", P = "
                                                         << world_size();
    }
  }
  lpt::test::TempDir tmp_{"lpt_train_ranks"};
  const std::string dir_ = tmp_.path;
  std::ostringstream log_;
};

TEST_F(TrainRanks, ParallelGptIsBitIdenticalOnEveryRankCount) {
  expect_rank_independent("gpt", {"solver.mode=parallel"});
}

TEST_F(TrainRanks, WarmStartedParallelGptIsBitIdenticalOnEveryRankCount) {
  expect_rank_independent("gpt", {"solver.mode=parallel", "solver.warm_start=true"});
}

// The terminal guess broadcasts λ_N to every rank; the previous guess keeps each rank's own
// adjoint points; the float64 monitor runs a second, float64 layer-parallel solve on the ranks.
TEST_F(TrainRanks, TerminalAdjointGuessAndFloat64MonitorAreBitIdenticalOnEveryRankCount) {
  expect_rank_independent("gpt", {"solver.mode=parallel", "solver.adjoint_guess=terminal",
                                  "monitor.precision=float64"});
}

TEST_F(TrainRanks, PreviousAdjointGuessIsBitIdenticalOnEveryRankCount) {
  expect_rank_independent("gpt", {"solver.mode=parallel", "solver.adjoint_guess=previous"});
}

TEST_F(TrainRanks, AdaptiveDecisionsAreTheSameOnEveryRankCount) {
  expect_rank_independent("gpt", {"solver.mode=adaptive", "control.eta=1e-9",
                                  "control.patience=1", "control.max_forward_iterations=2",
                                  "control.max_backward_iterations=2"});
}

// Edge layers belong to the opening and closing: rank 0 computes them (and owns their tensors)
// on every P, with the same bits.
TEST_F(TrainRanks, EdgeLayersAreBitIdenticalOnEveryRankCount) {
  expect_rank_independent("gpt", {"solver.mode=parallel", "model.edge_layers=[1, 2]"});
  expect_rank_independent("vit", {"solver.mode=serial_forward", "model.edge_layers=[2, 0]"});
}

TEST_F(TrainRanks, SerialForwardTranslationIsBitIdenticalOnEveryRankCount) {
  expect_rank_independent("mt", {"solver.mode=serial_forward"});
}

// Serial training on P ranks passes the layers from rank to rank (one-level solves): the same
// operations in the same order as on one rank, so the same bits; the record also holds each
// rank's timers of the propagation.
TEST_F(TrainRanks, SerialOnSeveralRanksIsExactAndBitIdentical) {
  for (const std::string family : {"gpt", "mt"}) {
    const auto world = config(family, "serial_world", {"solver.mode=serial"});
    const auto self = config(family, "serial_self", {"solver.mode=serial"});
    run(world, MPI_COMM_WORLD);
    run(self, MPI_COMM_SELF);
    if (world_rank() != 0) continue;
    for (const char* d : {"/train/loss", "/train/grad_norm", "/eval/loss", "/eval/metric"})
      EXPECT_EQ(read_series(world.output.file, d), read_series(self.output.file, d))
          << family << " " << d << " on " << world_size() << " ranks";
    if (world_size() > 1) {
      EXPECT_EQ(read_series(world.output.file, "/solver/forward/timers").size(),
                read_series(world.output.file, "/solver/step").size() * 6u * world_size());
      for (double m : read_series(world.output.file, "/solver/mode")) EXPECT_EQ(m, 0.0);
    }
  }
}

// Each rank allocates the layers it owns (plus the opening and closing ones on rank 0, plus ghost
// copies of the few layers its other solves read): every tensor is owned exactly once, and no
// rank of several holds the whole model. Checked in every mode that splits the model.
TEST_F(TrainRanks, EachRankAllocatesOnlyItsLayers) {
  for (const std::string mode : {"parallel", "adaptive", "serial", "pipeline"}) {
    const auto c = config("gpt", "held_" + mode, {"solver.mode=" + mode, "train.steps=2"});
    run(c, MPI_COMM_WORLD);
    if (world_rank() != 0) continue;
    const std::vector<double> owned = read_series(c.output.file, "/memory/params_owned");
    const std::vector<double> ghost = read_series(c.output.file, "/memory/params_ghost");
    ASSERT_EQ(owned.size(), std::size_t(world_size())) << mode;
    ASSERT_EQ(ghost.size(), owned.size()) << mode;
    const double total = lpt::test::read_attr_double(c.output.file, "/memory/params_owned", "total");
    double sum = 0;
    for (double o : owned) sum += o;
    EXPECT_EQ(sum, total) << mode << " on " << world_size() << " ranks";
    for (int r = 0; r < world_size(); ++r) {
      if (world_size() == 1) {
        EXPECT_EQ(ghost[r], 0.0) << mode;
        continue;
      }
      EXPECT_GT(owned[r], 0.0) << mode << ", rank " << r;
      EXPECT_LT(owned[r] + ghost[r], 0.75 * total) << mode << ", rank " << r << " of "
                                                   << world_size();
    }
  }
}

// A checkpoint holds nothing of the rank count: a run stopped on P ranks resumes on one and ends
// where an uninterrupted one-rank run ends, bit for bit (the controller's state included). Its
// record cannot grow on another rank count (per-rank timer tables), which is refused up front,
// naming the way out: a new record.
TEST_F(TrainRanks, CheckpointFromAnyRankCountResumesOnOneRank) {
  const auto stopped = with_checkpoint("stopped", "stopped");
  lpt::test::run_train(stopped, log_, 4, "", MPI_COMM_WORLD);  // killed after step 4
  if (world_rank() != 0) return;  // the checkpoint is rank 0's, in its own folder
  const auto whole = with_checkpoint("whole", "whole");
  run(whole, MPI_COMM_SELF);
  if (world_size() > 1) {
    try {
      lpt::test::run_train(stopped, log_, -1, stopped.output.checkpoint, MPI_COMM_SELF);
      ADD_FAILURE() << "resumed a " << world_size() << "-rank record on one rank";
    } catch (const lpt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("output.file=NEW.h5"), std::string::npos) << e.what();
    }
  }
  const auto resumed = with_checkpoint("resumed", "stopped");  // a new record, same checkpoint
  lpt::test::run_train(resumed, log_, -1, stopped.output.checkpoint, MPI_COMM_SELF);
  expect_stitched(stopped, resumed, whole, "stopped on P ranks, resumed on 1");
}

// The other direction: a checkpoint written by one rank resumes on P ranks and ends where an
// uninterrupted P-rank run ends, bit for bit (each rank reads its own copy of the same bytes).
TEST_F(TrainRanks, CheckpointFromOneRankResumesOnAnyRankCount) {
  const auto stopped = with_checkpoint("one_stopped", "one_stopped");
  lpt::test::run_train(stopped, log_, 4, "", MPI_COMM_SELF);  // one rank, killed after step 4
  const auto whole = with_checkpoint("world_whole", "world_whole");
  run(whole, MPI_COMM_WORLD);
  const auto resumed = with_checkpoint("world_resumed", "one_stopped");
  lpt::test::run_train(resumed, log_, -1, stopped.output.checkpoint, MPI_COMM_WORLD);
  if (world_rank() != 0) return;
  expect_stitched(stopped, resumed, whole, "stopped on 1 rank, resumed on P");
}

// 8 layers, cfactor 2, 3 levels: 8 -> 4 -> 2. On 3 and 4 ranks the coarsest level lives on two
// of them and level 1's intervals run through ranks; training is the same bit for bit.
TEST_F(TrainRanks, MoreRanksThanCoarsestStepsIsBitIdentical) {
  const std::vector<std::string> three = {"solver.mgrit.forward.levels=3",
                                          "solver.mgrit.backward.levels=3"};
  auto with = [&](std::vector<std::string> v) {
    v.insert(v.end(), three.begin(), three.end());
    return v;
  };
  expect_rank_independent("gpt", with({"solver.mode=parallel", "solver.mgrit.forward.iterations=2",
                                       "solver.warm_start=true"}));
  expect_rank_independent("gpt", with({"solver.mode=adaptive", "control.eta=1e-9",
                                       "control.patience=1", "control.max_forward_iterations=2",
                                       "control.max_backward_iterations=2"}));
  expect_rank_independent("mt", with({"solver.mode=parallel"}));
  // Above the alignment level an adjoint coarse step reads the next block's layer: on 3 and 4
  // ranks some rank holds a ghost copy, refreshed after every update (else the bits above differ).
  const auto c = config("gpt", "ghosts", with({"solver.mode=parallel", "train.steps=1"}));
  run(c, MPI_COMM_WORLD);
  if (world_rank() == 0) {
    double ghosts = 0;
    for (double g : read_series(c.output.file, "/memory/params_ghost")) ghosts += g;
    if (world_size() >= 3) {
      EXPECT_GT(ghosts, 0.0) << world_size() << " ranks";
    } else if (world_size() == 1) {
      EXPECT_EQ(ghosts, 0.0);
    }
  }
}

// D = 2 data-parallel groups (train.data_groups) split every batch in two shares and sum the
// shares' gradients across groups: the same arithmetic as one group accumulating the two shares
// (train.accumulate = 2 of half the batch), so the same bits, for every P per group and in every
// mode, the controller's decisions included (group 0 checks and decides for all).
TEST_F(TrainRanks, DataGroupsEqualAccumulatedShares) {
  if (world_size() % 2 != 0) {
    const auto c = config("gpt", "groups_odd", {"train.data_groups=2"});
    try {
      run(c, MPI_COMM_WORLD);
      ADD_FAILURE() << "2 groups accepted on " << world_size() << " ranks";
    } catch (const lpt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("does not divide"), std::string::npos) << e.what();
    }
    return;
  }
  const std::vector<std::vector<std::string>> modes = {
      {"solver.mode=serial"},
      {"solver.mode=parallel"},
      {"solver.mode=adaptive", "control.eta=1e-9", "control.patience=1",
       "control.max_forward_iterations=2", "control.max_backward_iterations=2"}};
  for (const auto& mode : modes) {
    auto groups = mode, shares = mode;
    groups.insert(groups.end(), {"train.batch=4", "train.data_groups=2"});
    shares.insert(shares.end(), {"train.batch=2", "train.accumulate=2", "train.eval_batches=2"});
    const auto world = config("gpt", "groups", groups);
    const auto self = config("gpt", "shares", shares);
    run(world, MPI_COMM_WORLD);
    run(self, MPI_COMM_SELF);
    if (world_rank() != 0) continue;
    std::vector<std::string> series = {"/train/loss", "/train/grad_norm", "/eval/loss"};
    if (mode[0] != "solver.mode=serial")
      series.insert(series.end(), {"/monitor/rel_error", "/monitor/bias_ratio"});
    for (const std::string& d : series)
      EXPECT_EQ(read_series(world.output.file, d), read_series(self.output.file, d))
          << mode[0] << " " << d << " on " << world_size() << " ranks";
    EXPECT_EQ(read_event_field(world.output.file, "/control/events", "action"),
              read_event_field(self.output.file, "/control/events", "action"))
        << mode[0];
    // Every world rank's peak memory, one column each.
    EXPECT_EQ(read_series(world.output.file, "/memory/peak_rss").size(),
              read_series(world.output.file, "/memory/step").size() * world_size());
  }
}

// For a fixed total batch, two groups and one group train the same up to float rounding (the
// mean over the batch summed in two halves).
TEST_F(TrainRanks, DataGroupsMatchOneGroupWithinRounding) {
  if (world_size() % 2 != 0) GTEST_SKIP() << "needs an even rank count";
  const auto world = config("gpt", "dp2", {"solver.mode=parallel", "train.data_groups=2"});
  const auto self = config("gpt", "dp1", {"solver.mode=parallel"});
  run(world, MPI_COMM_WORLD);
  run(self, MPI_COMM_SELF);
  if (world_rank() != 0) return;
  for (const char* d : {"/train/loss", "/train/grad_norm", "/eval/loss"}) {
    const auto a = read_series(self.output.file, d), b = read_series(world.output.file, d);
    ASSERT_EQ(a.size(), b.size()) << d;
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_NEAR(b[i], a[i], 2e-5 * std::abs(a[i])) << d << " row " << i;
  }
}

// Pipeline mode with one micro-batch is serial training with the layers split over the ranks:
// ViT, whose head is not tied to its embedding, gives the same bits; GPT and translation tie the
// logits to the token embedding, whose two gradient parts (head on the last rank, embedding on
// rank 0) are then summed in another order than serial training sums them (float rounding).
// With k micro-batches, 1F1B and GPipe equal k-fold accumulation up to rounding.
TEST_F(TrainRanks, PipelineIsSerialTrainingUpToTheTiedEmbeddingsRounding) {
  auto near = [&](const lpt::RunConfig& a, const lpt::RunConfig& b, double tol, const char* what) {
    for (const char* d : {"/train/loss", "/train/grad_norm", "/eval/loss"}) {
      const auto x = read_series(a.output.file, d), y = read_series(b.output.file, d);
      ASSERT_EQ(x.size(), y.size()) << d;
      for (std::size_t i = 0; i < x.size(); ++i)
        EXPECT_NEAR(y[i], x[i], tol * std::abs(x[i])) << what << " " << d << " row " << i;
    }
  };
  {
    const auto world = config("vit", "pipe_vit", {"solver.mode=pipeline"});
    const auto self = config("vit", "serial_vit", {"solver.mode=serial"});
    run(world, MPI_COMM_WORLD);
    run(self, MPI_COMM_SELF);
    if (world_rank() == 0) {
      for (const char* d : {"/train/loss", "/train/grad_norm", "/eval/loss", "/eval/metric"})
        EXPECT_EQ(read_series(world.output.file, d), read_series(self.output.file, d)) << d;
      // The record has the layer-parallel modes' tables: one row per step, P timer blocks.
      EXPECT_EQ(read_series(world.output.file, "/solver/forward/timers").size(),
                read_series(world.output.file, "/solver/step").size() * 6u * world_size());
      EXPECT_EQ(read_series(world.output.file, "/solver/step").size(), 7u);
    }
  }
  for (const std::string family : {"gpt", "mt"}) {
    const auto world = config(family, "pipe_" + family, {"solver.mode=pipeline"});
    const auto self = config(family, "serial_" + family, {"solver.mode=serial"});
    run(world, MPI_COMM_WORLD);
    run(self, MPI_COMM_SELF);
    if (world_rank() == 0) near(self, world, 1e-6, family.c_str());
  }
  for (const char* schedule : {"1f1b", "gpipe"}) {
    const auto world = config("gpt", std::string("pipe4_") + schedule,
                              {"solver.mode=pipeline", "solver.pipeline.micro_batches=4",
                               std::string("solver.pipeline.schedule=") + schedule});
    const auto self = config("gpt", std::string("acc4_") + schedule,
                             {"solver.mode=serial", "train.batch=1", "train.accumulate=4",
                              "train.eval_batches=4"});
    run(world, MPI_COMM_WORLD);
    run(self, MPI_COMM_SELF);
    if (world_rank() == 0) near(self, world, 1e-6, schedule);
  }
}

// More ranks than the fine level has intervals leaves a rank without layers: refused, naming the
// largest rank count that works.
TEST_F(TrainRanks, MoreRanksThanFineIntervalsIsAClearError) {
  if (world_size() < 3) GTEST_SKIP() << "needs 3 or more ranks";
  // 8 layers, cfactor 4, 2 levels: 2 fine intervals, so at most 2 ranks.
  const auto c = config("gpt", "toomany", {"solver.mode=parallel", "solver.mgrit.forward.cfactor=4",
                                           "solver.mgrit.backward.cfactor=4"});
  try {
    run(c, MPI_COMM_WORLD);
    ADD_FAILURE() << "no error";
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("largest valid rank count is 2"), std::string::npos)
        << e.what();
  }
}

}  // namespace

int main(int argc, char** argv) { return lpt::test::mpi_gtest_main(argc, argv); }
