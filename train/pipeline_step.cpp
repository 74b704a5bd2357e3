#include "train/pipeline_step.hpp"

#include <algorithm>

#include "model/arena.hpp"
#include "solver/grid.hpp"
#include "util/error.hpp"
#include "util/timer.hpp"

namespace lpt {

// One micro-batch's place on this rank: its states u[lo..hi], the block's tapes and its adjoint,
// and the sends that still read them.
struct PipelineStep::Slot {
  int mb = -1;
  Arena<float> arena;
  float* u = nullptr;                // (hi − lo + 1) states
  std::vector<float*> tape;          // per layer of the block
  float* lam = nullptr;              // one state: λ, updated in place from λ[hi] down to λ[lo]
  MPI_Request send_u = MPI_REQUEST_NULL, send_lam = MPI_REQUEST_NULL;
};

namespace {
// Tags name the micro-batch (a check on the order, which both ends keep anyway: forwards go in
// increasing micro-batch order, backwards in the schedule's order on both sides), kept under
// 32767, the smallest MPI_TAG_UB the standard allows.
int tag_state(int mb) { return 2 * (mb % 16384); }
int tag_adjoint(int mb) { return 2 * (mb % 16384) + 1; }
}  // namespace

PipelineStep::PipelineStep(Model<float>& model, MPI_Comm comm, PipelineSchedule schedule)
    : model_(model), comm_(comm), schedule_(schedule) {
  int init = 0;
  MPI_Initialized(&init);
  if (init) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &ranks_);
    mpi_ = ranks_ > 1;
  }
  const std::vector<int> own = owners(model_.steps().num_steps(), ranks_);
  lo_ = std::find(own.begin(), own.end(), rank_) - own.begin();
  hi_ = own.rend() - std::find(own.rbegin(), own.rend(), rank_);
}

// The blocks of one-level MGRIT (serial on P ranks): the same layers per rank in both modes.
std::vector<int> PipelineStep::owners(long N, int ranks) {
  require(ranks <= N, "pipeline: ", ranks, " ranks for ", N, " layers; a stage needs a layer, "
          "so the largest valid rank count is ", N);
  mgrit::CycleOptions one;
  one.set_max_levels(1);
  const mgrit::Grid g(N, one, ranks);
  std::vector<int> own(N);
  for (long n = 0; n < N; ++n) own[n] = g.owner(0, n);
  return own;
}

PipelineStep::~PipelineStep() {
  if (!mpi_) return;
  for (auto& s : slots_) {  // a step that threw may leave sends behind
    MPI_Wait(&s->send_u, MPI_STATUS_IGNORE);
    MPI_Wait(&s->send_lam, MPI_STATUS_IGNORE);
  }
}

std::vector<std::pair<bool, int>> PipelineStep::order(PipelineSchedule s, int k, int rank,
                                                      int ranks) {
  std::vector<std::pair<bool, int>> ops;
  if (s == PipelineSchedule::gpipe) {
    for (int i = 0; i < k; ++i) ops.push_back({true, i});
    for (int i = k - 1; i >= 0; --i) ops.push_back({false, i});
    return ops;
  }
  const int warm = std::min(ranks - 1 - rank, k);
  for (int i = 0; i < warm; ++i) ops.push_back({true, i});
  for (int i = 0; i + warm < k; ++i) {
    ops.push_back({true, i + warm});
    ops.push_back({false, i});
  }
  for (int i = std::max(0, k - warm); i < k; ++i) ops.push_back({false, i});
  return ops;
}

PipelineStep::Slot& PipelineStep::acquire(int mb) {
  Slot* free = nullptr;
  for (auto& s : slots_)
    if (s->mb < 0) {
      free = s.get();
      break;
    }
  if (!free) {
    slots_.push_back(std::make_unique<Slot>());
    free = slots_.back().get();
    OdeStep<float>& st = model_.steps();
    const long layers = hi_ - lo_;
    std::size_t need = Arena<float>::footprint(state_ * (layers + 1)) +
                       Arena<float>::footprint(state_);
    for (long n = lo_; n < hi_; ++n) need += Arena<float>::footprint(st.tape_size(int(n)));
    free->arena.reserve(need);
    free->u = free->arena.alloc(state_ * (layers + 1));
    free->lam = free->arena.alloc(state_);
    for (long n = lo_; n < hi_; ++n) free->tape.push_back(free->arena.alloc(st.tape_size(int(n))));
  }
  // Its last micro-batch's sends may still read it.
  if (mpi_) {
    Timer t;
    MPI_Wait(&free->send_u, MPI_STATUS_IGNORE);
    MPI_Wait(&free->send_lam, MPI_STATUS_IGNORE);
    times_.wait_forward += t.seconds();
  }
  free->mb = mb;
  peak_ = std::max(peak_, ++in_flight_);
  return *free;
}

void PipelineStep::release(Slot& s) {
  s.mb = -1;
  --in_flight_;
}

void PipelineStep::forward(Slot& s, const std::function<void(int)>& bind) {
  OdeStep<float>& st = model_.steps();
  bind(s.mb);
  Timer t;
  if (rank_ == 0) {
    model_.open_forward(s.u);
    times_.open += t.lap();
  } else {
    MPI_Recv(s.u, int(state_), MPI_FLOAT, rank_ - 1, tag_state(s.mb), comm_, MPI_STATUS_IGNORE);
    times_.wait_forward += t.lap();
  }
  for (long n = lo_; n < hi_; ++n) {
    float* u = s.u + (n - lo_) * state_;
    st.forward(int(n), model_.h(int(n)), u, u + state_, s.tape[n - lo_]);
  }
  times_.forward += t.lap();
  float* last = s.u + (hi_ - lo_) * state_;
  if (rank_ == ranks_ - 1) {
    losses_[s.mb] = model_.close(last, s.lam);
    times_.close += t.lap();
  } else {
    MPI_Isend(last, int(state_), MPI_FLOAT, rank_ + 1, tag_state(s.mb), comm_, &s.send_u);
  }
}

void PipelineStep::backward(Slot& s, const std::function<void(int)>& bind) {
  OdeStep<float>& st = model_.steps();
  float* grads = model_.params().grads();
  bind(s.mb);
  Timer t;
  if (rank_ != ranks_ - 1) {
    MPI_Recv(s.lam, int(state_), MPI_FLOAT, rank_ + 1, tag_adjoint(s.mb), comm_,
             MPI_STATUS_IGNORE);
    times_.wait_backward += t.lap();
  }
  for (long n = hi_ - 1; n >= lo_; --n)
    st.backward(int(n), model_.h(int(n)), s.u + (n - lo_) * state_, s.tape[n - lo_], s.lam, s.lam,
                grads + st.param_offset(int(n)));
  times_.backward += t.lap();
  if (rank_ == 0) {
    model_.open_backward(s.lam);
    times_.open_backward += t.lap();
  } else {
    MPI_Isend(s.lam, int(state_), MPI_FLOAT, rank_ - 1, tag_adjoint(s.mb), comm_, &s.send_lam);
  }
}

double PipelineStep::forward_backward(int k, const std::function<void(int)>& bind) {
  require(k >= 1, "pipeline: micro-batches must be >= 1, got ", k);
  Timer total;
  times_ = PipelineTimes{};
  state_ = model_.state_size();
  ParamStore<float>& p = model_.params();
  p.zero_grads();
  losses_.assign(k, 0.0);
  peak_ = in_flight_ = 0;
  std::vector<Slot*> of_mb(k, nullptr);
  for (const auto& [fwd, mb] : order(schedule_, k, rank_, ranks_)) {
    if (fwd) {
      of_mb[mb] = &acquire(mb);
      forward(*of_mb[mb], bind);
    } else {
      backward(*of_mb[mb], bind);
      release(*of_mb[mb]);
    }
  }
  Timer t;
  if (mpi_) {
    for (auto& s : slots_) {
      MPI_Wait(&s->send_u, MPI_STATUS_IGNORE);
      MPI_Wait(&s->send_lam, MPI_STATUS_IGNORE);
    }
    times_.wait_backward += t.lap();
    // Each layer's gradient is non-zero on its owner only: x + 0 is exact, so any order of the
    // sum gives the same bits. A split model sends the last rank's closing gradients (ghosts of
    // rank 0's tensors) to rank 0 instead.
    if (shards_ && shards_->split())
      shards_->reduce_ghost_grads(p);
    else
      MPI_Allreduce(MPI_IN_PLACE, p.grads(), int(p.size()), MPI_FLOAT, MPI_SUM, comm_);
  }
  double loss = 0;
  for (double l : losses_) loss += l;  // meaningful on the last rank
  if (mpi_) MPI_Bcast(&loss, 1, MPI_DOUBLE, ranks_ - 1, comm_);
  if (k > 1) {
    float* g = p.grads();
    for (std::size_t i = 0; i < p.size(); ++i) g[i] /= float(k);
    loss /= k;
  }
  times_.reduce += t.lap();
  times_.total = total.seconds();
  fill_stats(k);
  return loss;
}

void PipelineStep::fill_stats(int k) {
  const long N = model_.steps().num_steps();
  auto base = [&](mgrit::SolveStats& s, bool adjoint) {
    s = mgrit::SolveStats{};
    s.adjoint = adjoint;
    s.iterations = 1;
    s.converged = true;
    s.final_residual = 0;  // exact
    s.level_steps = {N};
    s.evals = {(hi_ - lo_) * k};
    s.evals_all_ranks = {N * k};
  };
  base(fwd_, false);
  fwd_.timers.step = times_.forward;
  fwd_.timers.mpi_wait = times_.wait_forward;
  fwd_.timers.total = times_.open + times_.forward + times_.wait_forward + times_.close;
  base(adj_, true);
  adj_.param_grads = (hi_ - lo_) * k;
  adj_.param_grads_all_ranks = N * k;
  adj_.timers.vjp = times_.backward;
  adj_.timers.mpi_wait = times_.wait_backward;
  adj_.timers.total =
      times_.backward + times_.wait_backward + times_.open_backward + times_.reduce;
}

}  // namespace lpt
