// `lpt train`: train one model serially from a JSON run config (docs/config.md).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "experiments/command.hpp"
#include "train/config.hpp"
#include "train/run_checkpoint.hpp"
#include "train/trainer.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

// A resumed run continues the checkpoint's model: a --set that changes its family or any shape
// would load parameters into tensors of another size (or silently into another model). Keys that
// change neither (dropout, label smoothing, the step size) may change.
void refuse_model_changes(const nlohmann::json& was, const nlohmann::json& now,
                          const std::string& ckpt) {
  static const char* kFree[] = {"dropout", "label_smoothing", "T", "step_size"};
  const nlohmann::json& a = was.at("model");
  const nlohmann::json& b = now.at("model");
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (std::find(std::begin(kFree), std::end(kFree), it.key()) != std::end(kFree)) continue;
    const bool same = a.contains(it.key()) && a.at(it.key()) == it.value();
    lpt::require(same, "--set model.", it.key(), "=", it.value().dump(), ": the checkpoint ", ckpt,
                 " holds a model with model.", it.key(), " = ",
                 a.contains(it.key()) ? a.at(it.key()).dump() : "(unset)",
                 "; a resume cannot change the model's shape. Start a new run (without --resume) "
                 "to train another model");
  }
  lpt::require(was.at("data").at("name") == now.at("data").at("name"), "--set data.name: the "
               "checkpoint ", ckpt, " was trained on ", was.at("data").at("name").dump(),
               "; a resume continues on the same data (its tokenizer and position)");
}


struct TrainArgs {
  cli::ConfigOptions config;
  std::string resume;
  bool no_tty = false, print = false;
};

void declare(cli::Options& o, TrainArgs& a) {
  o.app().description(
      "Trains the model a run config describes and records every step to an HDF5 file.\n"
      "Under mpirun -np P the layers are split over the ranks: solver.mode parallel, "
      "serial_forward\nor adaptive solves the forward and backward pass with MGRIT "
      "(docs/controller.md), serial passes\nthe layers from rank to rank, pipeline runs "
      "micro-batches through them (1F1B or GPipe).\nUnder mpirun -np D*P with "
      "train.data_groups=D, D groups of P ranks share each batch (docs/config.md).");
  cli::add_config_options(o, a.config);
  o.text("--resume", a.resume, "CKPT",
         "continue a run from its checkpoint: the checkpoint's config is used (--set may still "
         "change e.g. train.steps); the loss sequence is bitwise identical to an uninterrupted "
         "run");
  o.flag("--no-tty", a.no_tty, "plain periodic lines even on a terminal");
  o.flag("--print-config", a.print, "print the resolved config and exit");
  o.app().footer(
      "Without --config the built-in defaults run (experiments/configs/defaults.json): a 4-layer "
      "GPT on\nthe english corpus, record run.h5. Data sets come from `bash "
      "scripts/prepare_data.sh` (docs/data.md).\nReading a run: docs/records.md, "
      "`/usr/bin/python3 analysis/plot_loss.py RUN.h5 ... -o loss.png`.\nEvery config key: "
      "docs/config.md.");
}

int run_train(const TrainArgs& a) {
  const std::string& resume = a.resume;
  const bool print = a.print;
  const int tty = a.no_tty ? 0 : -1;
  RunConfig cfg;
  if (!resume.empty()) {
    require(a.config.file.empty(), "--resume takes its config from the checkpoint; drop --config ",
            a.config.file, " (use --set to change single keys)");
    const nlohmann::json stored = nlohmann::json::parse(checkpoint_config(resume));
    cfg = resolve_config(stored, a.config.sets);
    refuse_model_changes(resolve_config(stored, {}).resolved, cfg.resolved, resume);
  } else {
    cfg = config_from(a.config.file, a.config.sets);
  }
  if (print) {
    std::printf("%s\n", cfg.resolved_string().c_str());
    return 0;
  }
  TrainOptions o;
  o.resume = resume;
  o.tty = tty;
  const TrainSummary s = train(cfg, o);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) return 0;
  std::printf("done: %ld steps in %.1f s; last train loss %.4f", s.steps, s.wall_seconds,
              s.last_loss);
  if (!s.metric_name.empty())
    std::printf(", val loss %.4f, %s %.4f", s.val_loss, s.metric_name.c_str(), s.val_metric);
  if (cfg.solver.mode != SolverMode::serial && cfg.solver.mode != SolverMode::pipeline)
    std::printf("; solver %s at the end", s.final_mode.c_str());
  std::printf("\nrecord: %s\n", cfg.output.file.c_str());
  return 0;
}

}  // namespace


LPT_COMMAND("train", "train a model (serial or layer-parallel) from a JSON config; HDF5 record",
            [](cli::Options& o) -> CommandRun {
              auto a = std::make_shared<TrainArgs>();
              declare(o, *a);
              return [a] { return run_train(*a); };
            });

}  // namespace lpt
