#pragma once
// `lpt calibrate`: measures on this machine what the performance model (perfmodel/) otherwise
// derives from FLOP rates: the time of one layer's forward step, its state VJP and its parameter
// gradient at the run's shape, one vector update over a state, and (on two or more MPI ranks) the
// point-to-point latency and bandwidth between ranks 0 and 1; and the machine figures of a
// hardware profile (perfmodel/hardware.hpp): sustained GEMM rate, memory bandwidth, element-wise
// rate and per-operation overhead.
#include <string>

#include <nlohmann/json.hpp>

#include "train/config.hpp"
#include "perfmodel/hardware.hpp"
#include "perfmodel/step_costs.hpp"

namespace lpt {

// The per-layer times and their shape are perf::MeasuredLayerTimes' own fields (vector_op_s: one
// y = a·x + y over a state, float32), so that what is measured and what `lpt predict --measured`
// reads are one struct with one key table.
struct Calibration : perf::MeasuredLayerTimes {
  double latency_s = -1;    // MPI half round trip of 8 bytes (-1: one rank)
  double bandwidth_Bps = -1;  // MPI bytes/s of a state-sized message (-1: one rank)
  int threads = 0;
  // Machine figures, per rank at `threads` threads.
  int gemm_n = 0;              // the square fp32 GEMM timed
  double gemm_flops = 0;       // its FLOP/s
  double stream_bytes = 0;     // bytes of the out-of-cache axpy's three arrays
  double memory_bandwidth = 0; // its bytes/s (read x, read y, write y)
  double vector_flops = 0;     // FLOP/s of an in-cache axpy (2 per element)
  double overhead_s = 0;       // a 1x1x1 GEMM call: what every operation pays on entry
  double memory_bytes = 0;     // physical memory of the machine
  int ranks_per_node = 1;      // MPI ranks on this node, else cores / threads
  // The per-layer times in the format `lpt predict --measured` reads.
  nlohmann::json measured_times() const;
};

// A hardware profile of this machine from a calibration: every figure measured here where one
// rank pair can measure it; the inter-node link (and, on one rank, the intra-node link) are taken
// from `base` and their sources say so.
perf::HardwareProfile calibrated_profile(const Calibration& c, const perf::HardwareProfile& base);

// Times `reps` repetitions of each (after one warm-up) at the run's shape: batch = train.batch,
// seq = model.seq_len (ViT: patches + 1; translation: the encoder layer at src_len). Every rank
// of MPI_COMM_WORLD must call it; the MPI figures are measured between ranks 0 and 1.
Calibration calibrate(const RunConfig& cfg, int reps);

}  // namespace lpt
