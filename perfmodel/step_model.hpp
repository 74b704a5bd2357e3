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
  double embed_sync = 0;  // the end ranks' exchanges: u_N to rank 0 and λ_N back (lpt closes there)
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

// The layers [first, last) of the chain run serially on one rank for one batch, the way the serial
// step runs all N (a pipeline stage runs its block the same way, per micro-batch). Every tape kept
// (written and read back through memory), or with `recompute` only the layer inputs kept and each
// tape rebuilt in the backward. Fills forward, adjoint (state VJPs, with the replayed forwards)
// and param_grad, in seconds; nothing else.
StepBreakdown chain_time(const StepCosts& c, int first, int last, bool recompute);
// Adds to m what that chain keeps for `in_flight` batches awaiting their backward: per batch its
// last - first + 1 boundary states and, unless recomputed, its tapes; recomputing adds one tape
// (the largest of the chain) once, the workspace its backward rebuilds it in. Bytes.
void add_chain_activations(MemoryUse& m, const StepCosts& c, int first, int last, bool recompute,
                           int in_flight);
// Adds the parameters (fp32 master + the bf16 copy in bf16 runs), fp32 gradients and AdamW's two
// fp32 moments of `params` parameters to m. Bytes.
void add_parameter_state(MemoryUse& m, double params, int act_bytes);
// Sums m's parts into m.total and compares it with the capacity.
void finish_memory(MemoryUse& m, double capacity);

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
  // AdamW over `params` parameters in `tensors` fused launches, s.
  double optimizer_time(double params, int tensors) const;
  // Ring allreduce of `bytes` over the replicas (0 for one), each replica a group of
  // `ranks_per_replica` consecutive ranks: 2(R−1)/R · bytes/β + 2(R−1)·α, s.
  double ring_allreduce(double bytes, int ranks_per_replica) const;

 private:
  // The pieces of predict(): the adjoint solve on its hierarchy `ha`, the step's time and the
  // fullest rank's memory from the per-rank loads (RankLoads, step_model.cpp).
  SolveCost adjoint_cost(const MgritSettings& st, const Hierarchy& ha, const Network& net) const;
  void step_time(Prediction& pr, const RankLoads& loads, int ranks) const;
  void peak_memory(Prediction& pr, const RankLoads& loads) const;

  ModelShape shape_;
  HardwareProfile hw_;
  StepCosts costs_;
  int replicas_ = 1;
  SerialMode serial_mode_ = SerialMode::store_tapes;
};

}  // namespace lpt::perf
