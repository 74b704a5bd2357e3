#pragma once
// Running a sweep (docs/sweep.md): every point of the spec as its own `lpt train` process, K at
// once, each optionally under `mpirun -np P`, into DIR/NAME.h5 with its output in DIR/NAME.log.
// Resumable: a point whose record is finished is skipped; a missing, partial or failed one is
// (re)run from scratch. A failing point is recorded (exit status, the last lines of its log) in
// DIR/sweep_status.json and does not stop the others. At the end the summary is written
// (DIR/summary.csv, DIR/summary.h5; sweep/summary.hpp).
#include <iosfwd>
#include <string>
#include <vector>

#include "sweep/spec.hpp"

namespace lpt {

struct SweepOptions {
  std::string out_dir;  // required
  int jobs = 1;         // points at once
  int mpi = 0;          // ranks per point (mpirun -np P); 0 or 1: no mpirun
  std::vector<std::string> mpirun = {"mpirun"};  // the launcher and any flags of the user's
  std::string lpt;      // the lpt executable the points run (`lpt train ...`)
  std::ostream* out = nullptr;  // progress and messages; default std::cout
  int tty = -1;         // -1: detect; 0: plain lines; 1: one live line
  bool dry_run = false; // print each point's state and command, run nothing
};

struct SweepOutcome {
  int points = 0;   // in the spec
  int skipped = 0;  // finished before this sweep started
  int ran = 0;      // started by this sweep
  int done = 0;     // of those, finished
  int failed = 0;   // of those, failed
  double wall_seconds = 0;
};

SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& options);

// Whether a point runs as one process even in an --mpi sweep: serial training without
// data-parallel groups (the reference the parallel points are compared with).
bool point_runs_alone(const RunConfig& c);

// The command line of one point: [mpirun flags -np P] LPT train [--config BASE] --set ... .
// Serial points run without mpirun: serial on one rank is the reference that layer-parallel
// points are compared with (lpt train itself also runs serial on P ranks, docs/config.md).
std::vector<std::string> point_command(const SweepSpec& spec, const SweepPoint& p,
                                       const SweepOptions& o, bool serial);

// The flags lpt adds to mpirun: --allow-run-as-root when run as root, --oversubscribe when
// jobs x ranks exceed the cores, --bind-to none when several points run at once (each mpirun
// would otherwise pin its ranks to the same cores).
std::vector<std::string> mpirun_flags(int jobs, int ranks);

}  // namespace lpt
