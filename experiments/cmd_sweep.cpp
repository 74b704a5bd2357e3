// `lpt sweep`: many `lpt train` runs over axes of config keys, resumable, with one summary
// (docs/sweep.md). The work is in sweep/; this file only reads the arguments.
#include <mpi.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "experiments/command.hpp"
#include "sweep/runner.hpp"
#include "sweep/spec.hpp"
#include "sweep/summary.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

struct SweepArgs {
  std::string spec_file, out_dir, collect, mpirun, size;
  int jobs = 0, mpi = 0;
  bool dry = false, no_tty = false;
};

void declare(cli::Options& o, SweepArgs& a) {
  o.app().description(
      "Runs every point of a sweep spec as its own `lpt train` process into DIR/NAME.h5 (log\n"
      "DIR/NAME.log; NAME from the point's axis values), then writes DIR/summary.csv and\n"
      "DIR/summary.h5 (one row per point). Run it again to resume: finished points are skipped,\n"
      "missing, partial and failed ones rerun.");
  o.text("spec", a.spec_file, "SPEC.json", "the sweep spec (omit with --collect)");
  o.text("--out,-o", a.out_dir, "DIR", "output directory",
         "the spec's \"out\", else runs/sweeps/<spec file stem>");
  o.text("--size", a.size, "NAME",
         "lay the spec's size NAME over it (\"sizes\": e.g. quick, full; experiments/paper/)",
         "none; a spec with sizes needs one");
  o.integer("--jobs,-j", a.jobs, 1, 4096, "points at once", "the spec's \"jobs\", else 1");
  o.integer("--mpi", a.mpi, 1, 65536,
            "run each layer-parallel point under `mpirun -np N` (serial points run as one "
            "process); flags added as needed: --allow-run-as-root (root), --oversubscribe "
            "(jobs x N > cores), --bind-to none (jobs > 1)",
            "the spec's \"mpi\", else none");
  o.text("--mpirun", a.mpirun, "CMD", "the launcher, with any flags of yours (split at spaces)",
         "mpirun");
  o.flag("--dry-run", a.dry, "print each point's state and command line; run nothing");
  o.flag("--no-tty", a.no_tty, "plain progress lines even on a terminal");
  o.text("--collect", a.collect, "DIR",
         "write the summary of DIR's records now (also while a sweep runs)");
  o.app().footer(
      "The spec (JSON): {\"base\": CONFIG.json, \"set\": {key: value}, \"axes\": [{\"grid\": "
      "{key: [values]}},\n{\"zip\": {key: [values], ...}}, {\"points\": [{key: value, ...}]}], "
      "\"names\": {key: short}, \"out\",\n\"jobs\", \"mpi\", \"sizes\": {name: {\"set\": ...}}}; seeds are an axis like any other "
      "({\"grid\": {\"train.seed\": [1, 2, 3]}}).\nFormat, summary columns and an example: "
      "docs/sweep.md, experiments/sweeps/.");
}

std::string self_executable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  require(n > 0, "lpt sweep: cannot find the lpt executable (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

int run_sweep_command(const SweepArgs& a) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  require(size == 1, "lpt sweep runs as one process (it starts the points itself); drop mpirun "
          "and give --mpi P to run each point on P ranks");
  const std::string& spec_file = a.spec_file;
  const std::string& out_dir = a.out_dir;
  const std::string& collect = a.collect;
  const int jobs = a.jobs, mpi = a.mpi, tty = a.no_tty ? 0 : -1;
  const bool dry = a.dry;
  std::vector<std::string> mpirun;
  {
    std::string w;
    for (char c : a.mpirun + " ") {
      if (c != ' ') {
        w += c;
      } else if (!w.empty()) {
        mpirun.push_back(w);
        w.clear();
      }
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
  const SweepSpec spec = load_sweep_spec(spec_file, a.size);
  SweepOptions o;
  o.out_dir = !out_dir.empty()    ? out_dir
              : !spec.out.empty() ? spec.out
                                  : "runs/sweeps/" + std::filesystem::path(spec_file).stem().string() +
                                        (spec.size.empty() ? "" : "/" + spec.size);
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
            [](cli::Options& o) -> CommandRun {
              auto a = std::make_shared<SweepArgs>();
              declare(o, *a);
              return [a] { return run_sweep_command(*a); };
            });

}  // namespace lpt
