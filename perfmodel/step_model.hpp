#pragma once
// One training step (opening, forward solve, closing + loss, adjoint solve, parameter gradients,
// optimizer, optional data-parallel allreduce) layer-parallel on P ranks against the serial step
// on one rank, with memory per rank. See docs/perfmodel.md §2.
#include <string>

#include "perfmodel/mgrit_cost.hpp"
#include "perfmodel/step_costs.hpp"

namespace lpt::perf {

// How the serial reference keeps activations: all layer tapes, or only the layer inputs with the
// forward recomputed in the backward (activation checkpointing). Auto keeps the tapes unless
// checkpointing is what makes the serial step fit on one rank.
enum class SerialMode { automatic, store_tapes, recompute };

struct StepBreakdown {
  double opening = 0;     // embedding forward + backward
  double forward = 0;     // forward solve (serial: the N forward steps)
  double closing = 0;     // head + loss forward and backward
  double adjoint = 0;     // adjoint solve (serial: the N state VJPs, with recompute if any)
  double param_grad = 0;  // parameter-gradient sweep
  double embed_sync = 0;  // tied-embedding gradient exchange left exposed
  double optimizer = 0;   // AdamW on the slowest rank
  double data_parallel = 0;  // gradient allreduce over the replicas (ring)
  double total = 0;
};

struct MemoryUse {  // bytes, on the rank that needs most
  double params = 0, grads = 0, optimizer = 0, states = 0, tapes = 0, workspace = 0, total = 0;
  bool fits = true;
};

struct SerialPrediction {
  StepBreakdown time;
  MemoryUse memory;
  bool recompute = false;
};

struct Prediction {
  int ranks_requested = 1;
  int ranks_used = 1;  // ranks that own layers (more are idle: too few coarse blocks)
  int replicas = 1;
  MgritSettings settings;
  StepBreakdown time;
  MemoryUse memory;
  SolveCost forward_solve, adjoint_solve;
  SerialPrediction serial;
  double speedup = 0;     // serial.time.total / time.total
  double efficiency = 0;  // speedup / ranks_requested
};

struct RankLoads;  // per-rank work and memory of one setting (step_model.cpp)

class StepModel {
 public:
  StepModel(const ModelShape& shape, const HardwareProfile& hw);
  // Replaces the FLOP-derived per-layer times (shape must match, see MeasuredLayerTimes).
  void set_measured(const MeasuredLayerTimes& m);
  void set_replicas(int r);  // data-parallel copies of the whole layer-parallel group
  void set_serial_mode(SerialMode m) { serial_mode_ = m; }

  const ModelShape& shape() const { return shape_; }
  const HardwareProfile& hardware() const { return hw_; }
  const StepCosts& costs() const { return costs_; }
  int replicas() const { return replicas_; }

  SerialPrediction serial() const;
  // Iteration counts from settings.fwd_iters / bwd_iters.
  Prediction predict(int ranks, const MgritSettings& settings) const;
  // Links, ranks per node and message size (one state) of the profile, as the solves see them.
  Network network() const;

 private:
  // The pieces of predict(): the adjoint solve on its hierarchy `ha`, the step's time and the
  // fullest rank's memory from the per-rank loads (RankLoads, step_model.cpp).
  SolveCost adjoint_cost(const MgritSettings& st, const Hierarchy& ha, const Network& net) const;
  void step_time(Prediction& pr, const RankLoads& loads, int ranks) const;
  void peak_memory(Prediction& pr, const RankLoads& loads) const;
  double optimizer_time(double params, int tensors) const;
  double ring_allreduce(double bytes, int ranks_per_replica) const;

  ModelShape shape_;
  HardwareProfile hw_;
  StepCosts costs_;
  int replicas_ = 1;
  SerialMode serial_mode_ = SerialMode::store_tapes;
};

}  // namespace lpt::perf
