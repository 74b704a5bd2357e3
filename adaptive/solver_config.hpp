#pragma once
// The layer-parallel step's settings (the run config's solver.* section, docs/config.md): which
// solves use MGRIT and each solve's cycle. Plain structs, so that adaptive/ needs nothing of the
// run config: train/config.cpp fills them from JSON, the layer-parallel step reads them.
#include "solver/options.hpp"
#include "solver/solver.hpp"

namespace lpt {

enum class SolverMode { serial, parallel, serial_forward, adaptive, pipeline };
// Order of a pipeline's micro-batches on each rank (train/pipeline_step.hpp): "1f1b" or "gpipe".
enum class PipelineSchedule { one_f_one_b, gpipe };
// The solver's own types: one definition each (mgrit::to_string names a relaxation).
using Relax = mgrit::Relax;
// The adjoint solve's initial guess (solver.adjoint_guess; mgrit::AdjointGuess says what each is).
using AdjointGuess = mgrit::AdjointGuess;

const char* to_string(SolverMode m);
const char* to_string(PipelineSchedule s);
const char* to_string(AdjointGuess g);

struct MgritConfig {
  int levels = 2;
  int cfactor = 4;
  Relax relax = Relax::F;
  int iterations = 2;
  bool skip = false;  // XBraid skip: no work on the first down-cycle
};

struct SolverConfig {
  SolverMode mode = SolverMode::serial;
  int threads = 1;  // OpenMP threads over F-intervals inside a rank
  bool warm_start = false;  // initial guess: the previous step's solve (docs/controller.md)
  AdjointGuess adjoint_guess = AdjointGuess::zero;  // the adjoint's cold start
  MgritConfig forward{2, 4, Relax::F, 2, false};
  MgritConfig backward{2, 4, Relax::F, 1, false};
  int micro_batches = 1;  // pipeline: the batch cut into this many micro-batches
  PipelineSchedule schedule = PipelineSchedule::one_f_one_b;
};

// The settings of exact training on several ranks: one level (no coarse grid), so each solve is
// sequential propagation across the ranks, finished after one sweep, with the same operations in
// the same order as one rank's serial step.
SolverConfig exact_solver(SolverConfig s);

}  // namespace lpt
