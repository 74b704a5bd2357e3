#include "adaptive/layer_parallel_step.hpp"

#include <cmath>

#include "adaptive/mpi_type.hpp"

#include "util/error.hpp"
#include "util/timer.hpp"

namespace lpt {

// A fixed number of cycles: tolerances off, so the work per step is the same on every step and
// every rank count (what the cost model and the controller's raise reason about).
mgrit::CycleOptions solve_options(const MgritConfig& m) {
  mgrit::CycleOptions o;
  o.set_max_levels(m.levels);
  o.set_cfactor(m.cfactor);
  o.set_fine_relax(m.relax);
  o.set_relax(mgrit::Relax::FCF);
  o.set_skip(m.skip);
  o.set_abs_tol(0);
  o.set_rel_tol(0);
  o.set_max_iter(m.iterations);
  o.set_storage(mgrit::Storage::all);  // the adjoint linearises at every forward state
  return o;
}

template <class T>
BasicLayerParallelStep<T>::BasicLayerParallelStep(Model<T>& model, MPI_Comm comm)
    : model_(model), comm_(comm) {
  int init = 0;
  MPI_Initialized(&init);
  if (init) {
    mpi_init_ = true;
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    mpi_ = size_ > 1;
  }
}

template <class T>
BasicLayerParallelStep<T>::~BasicLayerParallelStep() = default;

template <class T>
void BasicLayerParallelStep<T>::configure(const SolverConfig& s, bool forward_exact) {
  fwd_ = s.forward;
  bwd_ = s.backward;
  threads_ = s.threads;
  warm_ = s.warm_start;
  guess_ = s.adjoint_guess;
  forward_exact_ = forward_exact;
  options_dirty_ = true;
}

template <class T>
SolverConfig BasicLayerParallelStep<T>::solver_config() const {
  SolverConfig s;
  s.forward = fwd_;
  s.backward = bwd_;
  s.threads = threads_;
  s.warm_start = warm_;
  s.adjoint_guess = guess_;
  return s;
}

template <class T>
void BasicLayerParallelStep<T>::set_iterations(int forward, int backward) {
  require(forward >= 1 && backward >= 1, "MGRIT iterations must be >= 1, got forward ", forward,
          ", backward ", backward);
  if (forward == fwd_.iterations && backward == bwd_.iterations) return;
  fwd_.iterations = forward;
  bwd_.iterations = backward;
  options_dirty_ = true;
}

template <class T>
T* BasicLayerParallelStep<T>::tape_for(long layer) {
  T*& t = tape_ptr_[layer];
  if (!t) {
    Arena<T>& a = tapes_[layer];
    a.reserve(model_.steps().tape_size(int(layer)));
    t = a.alloc(model_.steps().tape_size(int(layer)));
  }
  return t;
}

template <class T>
void BasicLayerParallelStep<T>::build(std::size_t n) {
  OdeStep<T>& steps = model_.steps();
  state_size_ = n;
  tapes_.clear();
  tapes_.resize(steps.num_steps());
  tape_ptr_.assign(steps.num_steps(), nullptr);
  u0_.reset();
  uN_.reset();
  lam_.reset();
  T* grads = model_.params().grads();
  app_ = std::make_unique<mgrit::FlatApp<T>>(
      n,
      [this, &steps](const mgrit::StepInfo& s, const T* u, T* out) {
        // Only fine steps of the final sweep keep a tape: their states are the ones the adjoint
        // linearises at, and each layer's tape is then reused by its VJP instead of recomputed.
        steps.forward(int(s.layer), T(s.h), u, out, s.keep_tape ? tape_for(s.layer) : nullptr);
      },
      [this, &steps, grads](const mgrit::StepInfo& s, const T* u, const T* lam_next, T* lam_out,
                            bool g) {
        const T* tape = s.tape_valid ? tape_ptr_[s.layer] : nullptr;
        steps.backward(int(s.layer), T(s.h), u, tape, lam_next, lam_out,
                       g ? grads + steps.param_offset(int(s.layer)) : nullptr);
      });
  solver_ = std::make_unique<mgrit::Solver>(*app_, steps.num_steps());
  solver_->set_step_size(double(model_.h(0)));
  if (mpi_init_) solver_->set_comm(comm_);  // also MPI_COMM_SELF: the solver defaults to world
  options_dirty_ = true;
}

template <class T>
void BasicLayerParallelStep<T>::apply_options() {
  MgritConfig f = fwd_;
  if (forward_exact_) {
    f.levels = 1;  // one level: exact stepping, passed from rank to rank
    f.iterations = 1;
  }
  solver_->forward_options() = solve_options(f);
  solver_->adjoint_options() = solve_options(bwd_);
  solver_->set_threads(threads_);
  solver_->set_warm_start(warm_);
  solver_->set_adjoint_guess(guess_);
  model_.steps().reserve_threads(threads_);  // the solver's team may exceed OpenMP's default
  options_dirty_ = false;
}

template <class T>
double BasicLayerParallelStep<T>::forward_backward() {
  const std::size_t n = model_.state_size();
  if (!solver_ || n != state_size_) build(n);
  if (options_dirty_) apply_options();
  ParamStore<T>& p = model_.params();
  p.zero_grads();
  times_ = LayerParallelTimes{};

  Timer t;
  // u0, u_N and λ_N live across steps: after the first step a solve allocates only inside the
  // solver's own per-level storage.
  if (!u0_) u0_ = app_->make();
  if (!uN_) uN_ = app_->make();
  if (!lam_) lam_ = app_->make();
  // Every point's first guess is u0 (FlatApp::init_guess), so every rank needs it: a replicated
  // model computes it everywhere; a split one only on rank 0, which holds the embeddings.
  if (shards_ && shards_->split()) {
    if (rank_ == 0) model_.open_forward(u0_->v.data());
    MPI_Bcast(u0_->v.data(), int(n), mpi_type<T>(), 0, comm_);
  } else {
    model_.open_forward(u0_->v.data());
  }
  times_.open = t.lap();

  solver_->solve(*u0_);
  times_.forward = t.lap();

  // u_N lives on the last rank; the loss and the closing gradients are computed on rank 0.
  const int last = size_ - 1;
  T* uN = uN_->v.data();
  T* lamN = lam_->v.data();
  const MPI_Datatype mt = mpi_type<T>();
  if (solver_->owns_final()) app_->copy(*solver_->final_state(), *uN_);
  if (mpi_ && last != 0) {
    if (rank_ == last) MPI_Send(uN, int(n), mt, 0, 11, comm_);
    if (rank_ == 0) MPI_Recv(uN, int(n), mt, last, 11, comm_, MPI_STATUS_IGNORE);
  }
  double norms[3] = {0, 0, 0};  // loss, ||u_N||, ||λ_N||
  if (rank_ == 0) {
    norms[0] = model_.close(uN, lamN);
    norms[1] = std::sqrt(app_->norm_sq(*uN_));
    norms[2] = std::sqrt(app_->norm_sq(*lam_));
  }
  // The terminal guess starts every adjoint point at λ_N, so every rank needs it; otherwise only
  // the last rank (point N's owner) does.
  const bool everywhere = guess_ == AdjointGuess::terminal;
  if (mpi_) {
    if (everywhere) {
      MPI_Bcast(lamN, int(n), mt, 0, comm_);
    } else if (last != 0) {
      if (rank_ == 0) MPI_Send(lamN, int(n), mt, last, 12, comm_);
      if (rank_ == last) MPI_Recv(lamN, int(n), mt, 0, 12, comm_, MPI_STATUS_IGNORE);
    }
    MPI_Bcast(norms, 3, MPI_DOUBLE, 0, comm_);
  }
  const double loss = norms[0];
  norm_uN_ = norms[1];
  norm_lamN_ = norms[2];
  times_.close = t.lap();

  solver_->solve_adjoint(everywhere || solver_->owns_final() ? lam_.get() : nullptr);
  times_.adjoint = t.lap();

  // λ_0 sits with the rank that owns forward point 0 (rank 0: the adjoint mirrors positions).
  const mgrit::Vector* lam0 = solver_->gradient_u0();
  require(rank_ != 0 || lam0, "layer-parallel step: λ_0 is not on rank 0 (internal error)");
  if (rank_ == 0) model_.open_backward(mgrit::flat<T>(*lam0).v.data());
  if (shards_ && shards_->split())
    shards_->reduce_ghost_grads(p);  // each owner ends with its layers' gradients
  else if (mpi_)
    MPI_Allreduce(MPI_IN_PLACE, p.grads(), int(p.size()), mt, MPI_SUM, comm_);
  times_.reduce = t.lap();
  return loss;
}

template <class T>
const mgrit::SolveStats& BasicLayerParallelStep<T>::forward_stats() const {
  require(bool(solver_), "layer-parallel step: no solve yet");
  return solver_->forward_stats();
}

template <class T>
const mgrit::SolveStats& BasicLayerParallelStep<T>::adjoint_stats() const {
  require(bool(solver_), "layer-parallel step: no solve yet");
  return solver_->adjoint_stats();
}

template class BasicLayerParallelStep<float>;
template class BasicLayerParallelStep<double>;

}  // namespace lpt
