// `lpt train`: train one model serially from a JSON run config (docs/config.md).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "experiments/command.hpp"
#include "train/config.hpp"
#include "train/run_checkpoint.hpp"
#include "train/trainer.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

const char* kUsage = R"(usage: [mpirun -np P] lpt train [--config FILE.json] [--set key=value ...]
                 [--resume CKPT] [--no-tty] [--print-config]

Trains the model a run config describes and records every step to an HDF5 file.
  --config FILE     run config (JSON; sections model, data, train, solver, monitor, control,
                    output). Without it the built-in defaults run (experiments/configs/
                    defaults.json): a 4-layer GPT on the english corpus, record run.h5.
  --set key=value   override one key, e.g. --set train.lr=3e-4 --set model.layers=8 (repeatable;
                    the value is JSON, or a plain string)
  --resume CKPT     continue a run from its checkpoint: the checkpoint's config is used (--set may
                    still change e.g. train.steps); the loss sequence is bitwise identical to an
                    uninterrupted run
  --no-tty          plain periodic lines even on a terminal
  --print-config    print the resolved config and exit

solver.mode parallel, serial_forward or adaptive solves the forward and backward pass with MGRIT
over the layers, split over the MPI ranks (docs/controller.md); serial runs on one rank.
Data sets come from `bash scripts/prepare_data.sh` (docs/data.md). Reading a run: docs/records.md,
`/usr/bin/python3 analysis/plot_loss.py RUN.h5 ... -o loss.png`. Every config key: docs/config.md.)";

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


int run_train(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  std::string resume;
  int tty = -1;
  bool print = false;
  std::vector<std::string> cfg_args;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--resume") {
      require(i + 1 < args.size(), "--resume needs a checkpoint path");
      resume = args[++i];
    } else if (args[i] == "--no-tty") {
      tty = 0;
    } else if (args[i] == "--print-config") {
      print = true;
    } else {
      cfg_args.push_back(args[i]);
    }
  }
  RunConfig cfg;
  if (!resume.empty()) {
    const ConfigArgs ca = parse_config_args(cfg_args);
    require(ca.config_file.empty(), "--resume takes its config from the checkpoint; drop --config ",
            ca.config_file, " (use --set to change single keys)");
    require(ca.rest.empty(), "unknown argument '", ca.rest.empty() ? "" : ca.rest[0],
            "'; see lpt train --help");
    const nlohmann::json stored = nlohmann::json::parse(checkpoint_config(resume));
    cfg = resolve_config(stored, ca.sets);
    refuse_model_changes(resolve_config(stored, {}).resolved, cfg.resolved, resume);
  } else {
    cfg = config_from_args(cfg_args, &rest);
    require(rest.empty(), "unknown argument '", rest.empty() ? "" : rest[0],
            "'; see lpt train --help");
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
  if (cfg.solver.mode != SolverMode::serial)
    std::printf("; solver %s at the end", s.final_mode.c_str());
  std::printf("\nrecord: %s\n", cfg.output.file.c_str());
  return 0;
}

}  // namespace


LPT_COMMAND("train", "train a model (serial or layer-parallel) from a JSON config; HDF5 record",
            kUsage, run_train);

}  // namespace lpt
