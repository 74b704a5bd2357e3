#pragma once
// lpt::mgrit::Solver: forward and adjoint MGRIT over the layers (time steps) of an App.
//
//   FlatApp<double> app(n, step_fn, backward_fn);
//   Solver s(app, n_steps);
//   s.forward_options().set_cfactor(4); s.forward_options().set_max_iter(2);
//   s.solve(*app.make(u0));                  // forward; states kept for the adjoint
//   s.solve_adjoint(lam_N_or_null);          // parameter gradients through App::backward
//
// Every rank of the communicator calls solve/solve_adjoint; rank r owns the finest points
// [first_point(), end_point()) and evaluates the layers starting there (solver/grid.hpp: blocks of
// whole steps of the alignment level). A forward coarse step uses the ParamPolicy's layer at its
// left end, which lies in the block. An adjoint coarse step linearises at its far end in reversed
// time, the forward left end: on levels coarser than the alignment level that point may lie in
// the next block, so its forward state is fetched (fetched_states()) and the app must hold that
// layer's parameters too.
#include <map>
#include <memory>

#include "solver/app.hpp"
#include "solver/core.hpp"

namespace lpt::mgrit {

// Where the adjoint solve starts at the points it does not know (every point but λ_N):
//  zero      λ[n] = 0 (the linear problem's natural start);
//  terminal  λ[n] = λ_N: with small h each adjoint step is λ + O(h), so λ_N is the zeroth-order
//            solution; needs λ_N on every rank (solve_adjoint's argument);
//  previous  the last adjoint solve's states (zero when there are none: the first solve, or
//            after options changed), as warm start does for both solves.
enum class AdjointGuess { zero, terminal, previous };

// The layers one rank's solves touch, from the step count, the options and the rank count alone
// (before any solve): what a model split over the ranks must hold on that rank. Rank r is
// forward position r and adjoint position P − 1 − r, as in Solver.
struct RankLayers {
  std::vector<long> forward;   // the forward's fine block: every layer its steps read
  std::vector<long> adjoint;   // layers its adjoint steps read, on every level (sorted)
  std::vector<long> gradient;  // layers whose parameter gradients it computes (level 0)
};
RankLayers rank_layers(long n_steps, const CycleOptions& forward, const CycleOptions& adjoint,
                       int ranks, int rank);

class Solver {
 public:
  Solver(App& app, long n_steps);
  ~Solver();

  // Options. The non-const accessors mark the solver for a rebuild (warm start is then lost).
  CycleOptions& forward_options();
  CycleOptions& adjoint_options();
  // The options in force, read without marking anything for a rebuild.
  const CycleOptions& forward_cycle() const { return fopt_; }
  const CycleOptions& adjoint_cycle() const { return aopt_; }
  void set_step_size(double h);      // fine h; coarse steps use (stride)·h
  void set_comm(MPI_Comm comm);      // default MPI_COMM_WORLD (ignored if MPI is not initialised)
  void set_threads(int n);           // OpenMP threads over F-intervals inside a rank (default 1)
  void set_warm_start(bool on);      // keep the previous solve's states as initial guess
  // The adjoint's start where warm start has no states to keep (default zero). Under warm start
  // the adjoint always keeps its states when it has them, so this chooses only the cold start.
  void set_adjoint_guess(AdjointGuess g) { guess_ = g; }
  AdjointGuess adjoint_guess() const { return guess_; }
  void set_param_policy(ParamPolicy p);
  void add_monitor(Monitor* m);      // not owned; called for forward and adjoint solves

  // Forward solve from u0 (every rank passes a vector of the right shape; position 0's is used).
  const SolveStats& solve(const Vector& u0);
  // Adjoint solve around the last forward solve's stored states: λ[N] = *lam_N (needed on the
  // rank that owns point N, may be null elsewhere; needed on every rank with
  // AdjointGuess::terminal), λ[n] = Φ_n'(u[n])^T λ[n+1]; the app's parameter gradients are
  // accumulated in the final sweep. Needs Storage::all forward.
  const SolveStats& solve_adjoint(const Vector* lam_N);

  const SolveStats& forward_stats() const { return fwd_stats_; }
  const SolveStats& adjoint_stats() const { return adj_stats_; }
  long steps() const { return n_; }
  // Finest points owned here (forward), [first_point, end_point): this rank evaluates the layers
  // [first_point, min(end_point, N)) and needs their parameters. Valid before the first solve.
  long first_point() const;
  long end_point() const;
  bool owns_final() const { return end_point() == n_ + 1; }
  // Layers whose adjoint steps (and parameter gradients) this rank evaluates, valid after
  // solve_adjoint. They equal the forward layers when both solves have the same coarsest stride
  // S and S divides N (the adjoint splits time as the mirror image of the forward); otherwise
  // forward states are fetched (fetched_states()) and the app must hold those layers too.
  std::pair<long, long> adjoint_layers() const;
  long fetched_states() const { return long(remote_.size()); }
  const Vector* state(long n) const;          // forward u[n] if stored here, else nullptr
  const Vector* final_state() const { return state(n_); }
  const Vector* adjoint_state(long n) const;  // λ[n] (forward index) if here, else nullptr
  const Vector* gradient_u0() const { return adjoint_state(0); }
  Grid forward_grid() const;  // the forward's levels and layout under the options in force

 private:
  class ForwardProp;
  class AdjointProp;
  void build_forward();
  void plan_trajectory();
  void gather_trajectory();

  App& app_;
  long n_;
  double h_ = 1.0;
  MPI_Comm comm_ = MPI_COMM_WORLD;
  int threads_ = 1;
  bool warm_ = false;
  AdjointGuess guess_ = AdjointGuess::zero;
  ParamPolicy policy_ = inject_left;
  std::vector<Monitor*> monitors_;
  CycleOptions fopt_, aopt_;
  bool fdirty_ = true, adirty_ = true;
  std::unique_ptr<ForwardProp> fprop_;
  std::unique_ptr<AdjointProp> aprop_;
  std::unique_ptr<Core> fcore_, acore_;
  std::map<long, VectorPtr> remote_;  // forward states of other ranks this rank's adjoint needs
  // The exchange before each adjoint solve, (forward point, rank), in increasing point per rank:
  // made by plan_trajectory when a Core is rebuilt.
  std::vector<std::pair<long, int>> fetch_in_, fetch_out_;
  bool trajectory_planned_ = false;
  VectorPtr like_;
  SolveStats fwd_stats_, adj_stats_;
  bool forward_done_ = false;
};

}  // namespace lpt::mgrit
