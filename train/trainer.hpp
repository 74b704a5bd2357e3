#pragma once
// `lpt train`: the training loop of every family and every solver mode (serial, parallel,
// serial_forward, adaptive; docs/controller.md). Builds the task from the run config, computes
// each step's gradient serially or layer-parallel over the MPI ranks, measures the gradient error
// every monitor.every steps and lets the controller switch (adaptive), trains with the configured
// optimizer and schedule, evaluates every eval_every steps,
// appends every step to the HDF5 run record (flushed, so a killed run keeps what it did), writes
// atomic checkpoints (rank 0 writes the record and the checkpoints), and resumes from one
// bit-identically. A non-finite loss or gradient stops
// the run with a clear error; the record and the last good checkpoint stay intact.
#include <mpi.h>

#include <iosfwd>
#include <string>

#include "train/config.hpp"

namespace lpt {

struct TrainOptions {
  std::string resume;       // checkpoint to continue from (its config is the run's config)
  std::ostream* out = nullptr;  // progress and messages; default std::cout
  int tty = -1;             // -1: detect; 0: plain lines; 1: live line
  long stop_after = -1;     // stop (as if interrupted) once this step count is reached; tests
  MPI_Comm comm = MPI_COMM_WORLD;  // the ranks that share the layers (layer-parallel modes)
};

struct TrainSummary {
  long steps = 0;            // optimizer steps completed in total
  double last_loss = 0;      // training loss of the last step
  double val_loss = 0;       // last evaluation
  double val_metric = 0;
  std::string metric_name;
  double wall_seconds = 0;   // of this invocation
  std::string final_mode;    // the solver mode in force at the end ("serial", "parallel", ...)
  int fwd_iters = 0, bwd_iters = 0;  // MGRIT iterations in force at the end
};

TrainSummary train(const RunConfig& cfg, const TrainOptions& opt);

}  // namespace lpt
