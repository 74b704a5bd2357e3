#pragma once
// `lpt calibrate`: measures on this machine what the performance model (perfmodel/) otherwise
// derives from FLOP rates: the time of one layer's forward step, its state VJP and its parameter
// gradient at the run's shape, one vector update over a state, and (on two or more MPI ranks) the
// point-to-point latency and bandwidth between ranks 0 and 1.
#include <string>

#include <nlohmann/json.hpp>

#include "experiments/lib/config.hpp"

namespace lpt {

struct Calibration {
  int batch = 0, seq = 0, d = 0, heads = 0, d_ff = 0;  // the shape measured
  double forward_s = 0;     // median of one layer's forward step, keeping its tape
  double vjp_state_s = 0;   // median of the state VJP from the tape
  double param_grad_s = 0;  // median extra time of also accumulating dθ
  double axpy_s = 0;        // median of y = a·x + y over one state (float32)
  double latency_s = -1;    // MPI half round trip of 8 bytes (-1: one rank)
  double bandwidth_Bps = -1;  // MPI bytes/s of a state-sized message (-1: one rank)
  int threads = 0;
  // The per-layer times in the format `lpt predict --measured` reads.
  nlohmann::json measured_times() const;
};

// Times `reps` repetitions of each (after one warm-up) at the run's shape: batch = train.batch,
// seq = model.seq_len (ViT: patches + 1; translation: the encoder layer at src_len). Every rank
// of MPI_COMM_WORLD must call it; the MPI figures are measured between ranks 0 and 1.
Calibration calibrate(const RunConfig& cfg, int reps);

}  // namespace lpt
