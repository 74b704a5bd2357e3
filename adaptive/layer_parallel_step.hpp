#pragma once
// One layer-parallel gradient evaluation of any family (model/model.hpp) over the ranks of a
// communicator:
//
//   u0 = open(batch) -> MGRIT forward over the N layers (or exact stepping, serial_forward) ->
//   loss, λ_N = close(u_N) -> MGRIT adjoint, each rank accumulating its own layers' dθ in the
//   final sweep -> open_backward(λ_0) -> allreduce of the gradient
//
// Afterwards every rank holds the loss and the full gradient, and applies the same optimizer
// update (replicated parameters); or, with set_shards, each owner holds its tensors' gradient.
//
// Rank independence: close() and open_backward() both run on rank 0 (u_N travels there, λ_N
// back), so the opening/closing gradients — accumulated by both when embeddings are tied — are
// summed in the serial order; every layer's slice is filled on exactly one rank, and the
// allreduce adds exact zeros from the others. With the solver's rank-independent cycles (fixed-
// order norms), every rank count gives the same bits for the same threads per rank.
//
// Training runs it in float32 (LayerParallelStep); the float64 gradient monitor runs the same
// solves on a float64 copy of the model (BasicLayerParallelStep<double>), so that the error it
// measures is the solver's and not float32 rounding.
//
// Usage:
//   LayerParallelStep lp(model);  lp.configure(cfg.solver, /*forward_exact=*/false);
//   task.next_batch();  double loss = lp.forward_backward();  ... optimizer on model.params()
#include <mpi.h>

#include <memory>
#include <vector>

#include "adaptive/param_shards.hpp"
#include "adaptive/solver_config.hpp"
#include "model/model.hpp"
#include "model/arena.hpp"
#include "solver/flat_app.hpp"
#include "solver/solver.hpp"

namespace lpt {

// Seconds of the phases of the last forward_backward (this rank).
struct LayerParallelTimes {
  double open = 0;     // opening layer forward
  double forward = 0;  // forward solve
  double close = 0;    // u_N to rank 0, loss and λ_N, λ_N back
  double adjoint = 0;  // adjoint solve with parameter gradients
  double reduce = 0;   // opening backward and the gradient allreduce
  double total() const { return open + forward + close + adjoint + reduce; }
};

// The cycle one solve of training runs: `m`'s levels, cfactor, fine relaxation, skip and
// iterations, FCF on coarse levels, tolerances off. The controller's cost oracle prices the same
// options (train/cost_oracle.hpp).
mgrit::CycleOptions solve_options(const MgritConfig& m);

template <class T>
class BasicLayerParallelStep {
 public:
  // The model must outlive this. comm: the ranks that share the layers (MPI_COMM_WORLD when MPI
  // is initialised; one rank otherwise).
  explicit BasicLayerParallelStep(Model<T>& model, MPI_Comm comm = MPI_COMM_WORLD);
  ~BasicLayerParallelStep();

  // Levels, cfactor, relaxation and iterations of both solves, OpenMP threads over F-intervals;
  // forward_exact: the forward is plain stepping (serial_forward mode) and only the adjoint uses
  // MGRIT; s.adjoint_guess: the adjoint's cold start (mgrit::AdjointGuess). Takes effect at the
  // next forward_backward.
  void configure(const SolverConfig& s, bool forward_exact);
  // The model is split over the ranks (adaptive/param_shards.hpp, the same communicator): the
  // gradient is left with the owners instead of summed on every rank. Not owned; null: replicated.
  void set_shards(const ParamShards* s) { shards_ = s; }
  // Iterations of the forward (ignored when exact) and adjoint solves.
  void set_iterations(int forward, int backward);
  int forward_iterations() const { return fwd_.iterations; }
  int backward_iterations() const { return bwd_.iterations; }
  bool forward_exact() const { return forward_exact_; }
  AdjointGuess adjoint_guess() const { return guess_; }

  // The model must be bound to a batch (and its dropout key set). Fills model.params().grads()
  // on every rank; returns the loss (the same on every rank).
  double forward_backward();

  const mgrit::SolveStats& forward_stats() const;
  const mgrit::SolveStats& adjoint_stats() const;
  const LayerParallelTimes& times() const { return times_; }
  // ||u_N|| and ||λ_N|| of the last step (every rank): the scales that make the solves' final
  // residuals relative, for the cheap error indicator.
  double final_state_norm() const { return norm_uN_; }
  double final_adjoint_norm() const { return norm_lamN_; }
  // The solver settings in force (iterations included), for a twin in another precision.
  SolverConfig solver_config() const;
  MPI_Comm comm() const { return comm_; }
  // The solver with the options in force after the last forward_backward (null before one).
  const mgrit::Solver* solver() const { return solver_.get(); }
  int ranks() const { return size_; }
  int rank() const { return rank_; }

 private:
  void build(std::size_t state_size);
  void apply_options();
  T* tape_for(long layer);

  Model<T>& model_;
  MPI_Comm comm_;
  const ParamShards* shards_ = nullptr;
  bool mpi_init_ = false;  // MPI is initialised (the solver gets comm_)
  bool mpi_ = false;       // and comm_ has more than one rank
  int rank_ = 0, size_ = 1;
  MgritConfig fwd_, bwd_;
  int threads_ = 1;
  bool warm_ = false;
  AdjointGuess guess_ = AdjointGuess::zero;
  bool forward_exact_ = false;
  bool options_dirty_ = true;
  std::size_t state_size_ = 0;
  std::unique_ptr<mgrit::FlatApp<T>> app_;
  std::unique_ptr<mgrit::Solver> solver_;
  std::vector<Arena<T>> tapes_;  // per layer, allocated when this rank first keeps one
  std::vector<T*> tape_ptr_;
  std::unique_ptr<mgrit::FlatVector<T>> u0_, uN_, lam_;  // λ_N in lam_
  LayerParallelTimes times_;
  double norm_uN_ = 0, norm_lamN_ = 0;
};

using LayerParallelStep = BasicLayerParallelStep<float>;

extern template class BasicLayerParallelStep<float>;
extern template class BasicLayerParallelStep<double>;

}  // namespace lpt
