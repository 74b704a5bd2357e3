// `lpt trajectory`: serial training of a GPT config with every step's batch, learning rate, loss
// and gradient norm written out, so that the PyTorch reference can train the same model from the
// same weights on the same batches (tests/torch_ref/trajectory_ref.py, bench/torch_trajectory.sh).
#include <cstdio>
#include <memory>

#include "experiments/command.hpp"
#include "train/config.hpp"
#include "train/trajectory.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

struct TrajectoryArgs {
  cli::ConfigOptions config;
  std::string out, dtype = "float32";
  long stop = 0, from = 0;
};

void declare(cli::Options& o, TrajectoryArgs& a) {
  o.app().description(
      "Trains the config's GPT serially for train.steps steps (as `lpt train` does in serial "
      "mode; no\nrecord, no evaluation) and writes the initial parameters, each step's batch and "
      "learning rate,\nand lpt's loss and gradient norm per step to FILE.h5 (layout: "
      "train/trajectory.hpp).");
  cli::add_config_options(o, a.config);
  o.text("--out", a.out, "FILE.h5", "the trajectory file to write");
  o.required("--out");
  o.choice("--dtype", a.dtype, {"float32", "float64"},
           "float32: the same losses as lpt train; float64: from the float32 initial weights, "
           "upcast");
  o.integer("--stop", a.stop, 1, 1L << 40,
            "train only the first N steps (the learning-rate schedule still spans train.steps)",
            "train.steps");
  o.integer("--from", a.from, 0, 1L << 40,
            "export from step N on (with the parameters and AdamW state there): the reference "
            "continues lpt's own state, e.g. a few steps before a loss spike");
  o.app().footer(
      "Then: /usr/bin/python3 tests/torch_ref/trajectory_ref.py FILE.h5 TORCH.h5 trains the "
      "same in\nPyTorch and prints how far the two loss curves are apart. Needs model.dropout = 0 "
      "and AdamW.");
}

int run_trajectory(const TrajectoryArgs& a) {
  const std::string& out = a.out;
  const std::string& dtype = a.dtype;
  const RunConfig cfg = config_from(a.config.file, a.config.sets);
  const long stop = a.stop, from = a.from;
  const Trajectory t = export_trajectory(cfg, dtype == "float64", out, stop, from);
  std::printf("trajectory: %zu steps (%s), first loss %.6f, last loss %.6f; written to %s\n",
              t.loss.size(), dtype.c_str(), t.loss.empty() ? 0.0 : t.loss.front(),
              t.loss.empty() ? 0.0 : t.loss.back(), out.c_str());
  return 0;
}

}  // namespace

LPT_COMMAND("trajectory",
            "serial GPT training with every step's batch and loss exported for PyTorch",
            [](cli::Options& o) -> CommandRun {
              auto a = std::make_shared<TrajectoryArgs>();
              declare(o, *a);
              return [a] { return run_trajectory(*a); };
            });

}  // namespace lpt
