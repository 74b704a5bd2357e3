// `lpt trajectory`: serial training of a GPT config with every step's batch, learning rate, loss
// and gradient norm written out, so that the PyTorch reference can train the same model from the
// same weights on the same batches (tests/torch_ref/trajectory_ref.py, bench/torch_trajectory.sh).
#include <cstdio>
#include <cstdlib>

#include "experiments/command.hpp"
#include "train/config.hpp"
#include "train/trajectory.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

const char* kUsage = R"(usage: lpt trajectory [--config FILE.json] [--set key=value ...]
                      [--dtype float32|float64] [--stop S] [--from F] --out FILE.h5

Trains the config's GPT serially for train.steps steps (as `lpt train` does in serial mode; no
record, no evaluation) and writes the initial parameters, each step's batch and learning rate,
and lpt's loss and gradient norm per step to FILE.h5 (layout: train/trajectory.hpp).
  --dtype   float32 (default; the same losses as lpt train) or float64 (from the float32
            initial weights, upcast)
  --stop S  train only the first S steps (the learning-rate schedule still spans train.steps)
  --from F  export from step F on (with the parameters and AdamW state there): the reference
            continues lpt's own state, e.g. a few steps before a loss spike
Then: /usr/bin/python3 tests/torch_ref/trajectory_ref.py FILE.h5 TORCH.h5 trains the same in
PyTorch and prints how far the two loss curves are apart. Needs model.dropout = 0 and AdamW.)";

int run_trajectory(const std::vector<std::string>& args) {
  std::vector<std::string> cfg_args, rest;
  std::string out, dtype = "float32";
  long stop = 0, from = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--out") {
      require(i + 1 < args.size(), "--out needs a file path");
      out = args[++i];
    } else if (args[i] == "--stop" || args[i] == "--from") {
      const std::string flag = args[i];
      require(i + 1 < args.size(), flag, " needs a step count");
      const std::string v = args[++i];
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      require(!v.empty() && *end == '\0' && n >= (flag == "--stop" ? 1 : 0), flag,
              " must be a step count >= ", flag == "--stop" ? 1 : 0, ", got '", v, "'");
      (flag == "--stop" ? stop : from) = n;
    } else if (args[i] == "--dtype") {
      require(i + 1 < args.size(), "--dtype needs float32 or float64");
      dtype = args[++i];
    } else {
      cfg_args.push_back(args[i]);
    }
  }
  require(!out.empty(), "lpt trajectory needs --out FILE.h5; see lpt trajectory --help");
  require(dtype == "float32" || dtype == "float64", "--dtype must be float32 or float64, got '",
          dtype, "'");
  const RunConfig cfg = config_from_args(cfg_args, &rest);
  require(rest.empty(), "unknown argument '", rest.empty() ? "" : rest[0],
          "'; see lpt trajectory --help");
  const Trajectory t = export_trajectory(cfg, dtype == "float64", out, stop, from);
  std::printf("trajectory: %zu steps (%s), first loss %.6f, last loss %.6f; written to %s\n",
              t.loss.size(), dtype.c_str(), t.loss.empty() ? 0.0 : t.loss.front(),
              t.loss.empty() ? 0.0 : t.loss.back(), out.c_str());
  return 0;
}

}  // namespace

LPT_COMMAND("trajectory",
            "serial GPT training with every step's batch and loss exported for PyTorch",
            kUsage, run_trajectory);

}  // namespace lpt
