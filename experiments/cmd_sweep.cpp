// `lpt sweep`: many `lpt train` runs over axes of config keys, resumable, with one summary
// (docs/sweep.md). The work is in sweep/; this file only reads the arguments.
#include <mpi.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/command.hpp"
#include "sweep/runner.hpp"
#include "sweep/spec.hpp"
#include "sweep/summary.hpp"
#include "train/config_cli.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

const char* kUsage = R"(usage: lpt sweep SPEC.json [-o DIR] [-j K] [--mpi P] [--mpirun CMD] [--dry-run]
                 [--no-tty]
       lpt sweep --collect DIR

Runs every point of a sweep spec as its own `lpt train` process into DIR/NAME.h5 (log DIR/NAME.log;
NAME from the point's axis values), then writes DIR/summary.csv and DIR/summary.h5 (one row per
point). Run it again to resume: finished points are skipped, missing, partial and failed ones rerun.
  -o DIR        output directory (default: the spec's "out", else runs/sweeps/<spec file stem>)
  -j K          points at once (default: the spec's "jobs", else 1)
  --mpi P       run each layer-parallel point under `mpirun -np P` (serial points run as one
                process); flags added as needed: --allow-run-as-root (root), --oversubscribe
                (K x P > cores), --bind-to none (K > 1)
  --mpirun CMD  the launcher, with any flags of yours (default "mpirun"; split at spaces)
  --dry-run     print each point's state and command line; run nothing
  --no-tty      plain progress lines even on a terminal
  --collect DIR write the summary of DIR's records now (also while a sweep runs)

The spec (JSON): {"base": CONFIG.json, "set": {key: value}, "axes": [{"grid": {key: [values]}},
{"zip": {key: [values], ...}}, {"points": [{key: value, ...}]}], "names": {key: short}, "out",
"jobs", "mpi"}; seeds are an axis like any other ({"grid": {"train.seed": [1, 2, 3]}}). Format,
summary columns and an example: docs/sweep.md, experiments/sweeps/.)";

std::string self_executable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  require(n > 0, "lpt sweep: cannot find the lpt executable (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

int run_sweep_command(const std::vector<std::string>& args) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  require(size == 1, "lpt sweep runs as one process (it starts the points itself); drop mpirun "
          "and give --mpi P to run each point on P ranks");
  std::string spec_file, out_dir, collect;
  int jobs = 0, mpi = 0, tty = -1;
  bool dry = false;
  std::vector<std::string> mpirun;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      require(i + 1 < args.size(), a, " needs a value; see lpt sweep --help");
      return args[++i];
    };
    if (a == "-o" || a == "--out") {
      out_dir = value();
    } else if (a == "-j" || a == "--jobs") {
      jobs = static_cast<int>(cli_integer(a, value(), 1, 4096));
    } else if (a == "--mpi") {
      mpi = static_cast<int>(cli_integer(a, value(), 1, 65536));
    } else if (a == "--mpirun") {
      mpirun.clear();
      std::string w;
      for (char c : value() + " ") {
        if (c != ' ') {
          w += c;
        } else if (!w.empty()) {
          mpirun.push_back(w);
          w.clear();
        }
      }
      require(!mpirun.empty(), "--mpirun needs a command");
    } else if (a == "--collect") {
      collect = value();
    } else if (a == "--dry-run") {
      dry = true;
    } else if (a == "--no-tty") {
      tty = 0;
    } else if (!a.empty() && a[0] != '-' && spec_file.empty()) {
      spec_file = a;
    } else {
      fail("unknown argument '", a, "'; see lpt sweep --help");
    }
  }
  if (!collect.empty()) {
    require(spec_file.empty(), "--collect DIR takes no spec");
    const SummaryTable t = write_sweep_summary(collect);
    std::printf("%zu points; summary %s/summary.csv and %s/summary.h5\n", t.rows.size(),
                collect.c_str(), collect.c_str());
    return 0;
  }
  require(!spec_file.empty(), "lpt sweep needs a spec file (or --collect DIR); see lpt sweep "
          "--help");
  const SweepSpec spec = load_sweep_spec(spec_file);
  SweepOptions o;
  o.out_dir = !out_dir.empty()    ? out_dir
              : !spec.out.empty() ? spec.out
                                  : "runs/sweeps/" + std::filesystem::path(spec_file).stem().string();
  o.jobs = jobs ? jobs : spec.jobs ? spec.jobs : 1;
  o.mpi = mpi ? mpi : spec.mpi;
  if (!mpirun.empty()) o.mpirun = mpirun;
  o.lpt = self_executable();
  o.tty = tty;
  o.dry_run = dry;
  const SweepOutcome r = run_sweep(spec, o);
  return r.failed ? 1 : 0;
}

}  // namespace

LPT_COMMAND("sweep", "run a config sweep (grid, zip, points; resumable) with one summary table",
            kUsage, run_sweep_command);

}  // namespace lpt
