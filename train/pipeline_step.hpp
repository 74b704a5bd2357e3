#pragma once
// Pipeline-parallel training step (solver.mode = pipeline): exact gradients, the layers split
// over the P ranks of a communicator in blocks (the split one-level MGRIT uses, so that serial
// training on P ranks and the pipeline give each rank the same layers), the batch cut into k
// micro-batches that flow through the ranks. Rank 0 also computes the opening layer, rank P − 1
// the closing layer and the loss.
//
// Schedules (the order of one rank's forwards F(i) and backwards B(i)):
//   gpipe  F(0) … F(k−1), B(k−1) … B(0)                     (Huang et al. 2019)
//   1f1b   w = min(P − 1 − p, k) warm-up forwards, then F(w+i), B(i) pairs, then the last
//          backwards: rank p holds at most w + 1 micro-batches' states instead of k
//          (PipeDream-Flush, Narayanan et al. 2021).
// Messages are point to point between neighbours, sent without blocking, so that a rank sending
// a state forward and its neighbour sending an adjoint back never wait on each other.
//
// The step's loss is the mean over micro-batches, its gradient the sum of the micro-batches'
// gradients over k (each layer's accumulating inside the backward GEMMs, then summed over the
// ranks, of which only the layer's owner adds a non-zero): with k = 1 the same bits as serial
// training; with k > 1 the gradient of k-fold accumulation up to float rounding.
#include <mpi.h>

#include <functional>
#include <memory>
#include <vector>

#include "adaptive/param_shards.hpp"
#include "adaptive/solver_config.hpp"
#include "model/model.hpp"
#include "solver/stats.hpp"

namespace lpt {

// Seconds on this rank during one step.
struct PipelineTimes {
  double open = 0, close = 0;        // opening layer (rank 0), closing layer and loss (rank P − 1)
  double forward = 0, backward = 0;  // the block's layer forwards and backwards
  double open_backward = 0;          // the opening layer's gradient (rank 0)
  double wait_forward = 0;           // blocked on states from the left / sends completing
  double wait_backward = 0;          // blocked on adjoints from the right
  double reduce = 0;                 // the gradient sum over the ranks, the loss broadcast
  double total = 0;
};

class PipelineStep {
 public:
  PipelineStep(Model<float>& model, MPI_Comm comm, PipelineSchedule schedule);
  ~PipelineStep();

  // bind(i) binds the model to micro-batch i (its batch and dropout key); called before every
  // piece of work on micro-batch i. Returns the mean loss of the k micro-batches (every rank) and
  // leaves the mean gradient in model.params().grads() (every rank the same).
  double forward_backward(int k, const std::function<void(int)>& bind);

  // The model is split over the ranks (pipeline_owners gives the layout): each owner keeps its
  // tensors' gradient. Not owned; null: a replicated model, the gradient summed on every rank.
  void set_shards(const ParamShards* s) { shards_ = s; }
  // Layers [first, end) of each rank, the blocks of one-level MGRIT.
  static std::vector<int> owners(long layers, int ranks);

  const PipelineTimes& times() const { return times_; }
  // The step as the layer-parallel solves report theirs (one exact "iteration", this rank's
  // timers: step/vjp = its layers, mpi_wait = blocked, total = its share of the step), so the
  // record's solver tables are the same for both kinds of run.
  const mgrit::SolveStats& forward_stats() const { return fwd_; }
  const mgrit::SolveStats& adjoint_stats() const { return adj_; }
  long first_layer() const { return lo_; }
  long end_layer() const { return hi_; }
  // The most micro-batches whose states this rank held at once in the last step.
  int peak_in_flight() const { return peak_; }
  MPI_Comm comm() const { return comm_; }
  // This rank's order of work for k micro-batches: (forward?, micro-batch) pairs.
  static std::vector<std::pair<bool, int>> order(PipelineSchedule s, int k, int rank, int ranks);

 private:
  struct Slot;
  Slot& acquire(int mb);
  void release(Slot& s);
  void forward(Slot& s, const std::function<void(int)>& bind);
  void backward(Slot& s, const std::function<void(int)>& bind);
  void fill_stats(int k);

  Model<float>& model_;
  MPI_Comm comm_;
  const ParamShards* shards_ = nullptr;
  PipelineSchedule schedule_;
  int rank_ = 0, ranks_ = 1;
  bool mpi_ = false;
  long lo_ = 0, hi_ = 0;  // this rank's layers [lo, hi)
  std::size_t state_ = 0;
  std::vector<std::unique_ptr<Slot>> slots_;  // stable addresses: sends read them
  std::vector<double> losses_;  // per micro-batch (last rank)
  PipelineTimes times_;
  mgrit::SolveStats fwd_, adj_;
  int peak_ = 0, in_flight_ = 0;
};

}  // namespace lpt
