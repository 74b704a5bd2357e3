#include "solver/solver.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace lpt::mgrit {

class Solver::ForwardProp : public Propagator {
 public:
  ForwardProp(App& app, const ParamPolicy& pol, double h) : app_(app), pol_(pol), h_(h) {}
  bool adjoint() const override { return false; }
  void step(int level, long fb, long fe, const Vector& in, Vector& out, bool final) override {
    StepInfo s;
    s.level = level;
    s.layer = pol_(level, fb, fe);
    s.fine_begin = fb;
    s.fine_end = fe;
    s.h = h_ * double(fe - fb);
    s.keep_tape = final && level == 0;
    app_.step(s, in, out);
  }

 private:
  App& app_;
  const ParamPolicy& pol_;
  double h_;
};

// The adjoint runs time backwards: its point k is forward point N - k, and its step from k to
// k + s is the transpose of the forward step from N - k - s to N - k, linearised at the forward
// state there (the left end of that forward step, where injection takes its parameters too).
class Solver::AdjointProp : public Propagator {
 public:
  AdjointProp(App& app, const ParamPolicy& pol, double h, long n, Solver& s)
      : app_(app), pol_(pol), h_(h), n_(n), solver_(s) {}
  bool adjoint() const override { return true; }
  void step(int level, long kb, long ke, const Vector& in, Vector& out, bool final) override {
    const long n0 = n_ - ke, n1 = n_ - kb;
    StepInfo s;
    s.level = level;
    s.layer = pol_(level, n0, n1);
    s.fine_begin = n0;
    s.fine_end = n1;
    s.h = h_ * double(n1 - n0);
    s.tape_valid = level == 0 && n0 >= taped_lo && n0 < taped_hi;
    const Vector* u = solver_.state(n0);
    if (!u) {
      auto it = solver_.remote_.find(n0);
      require(it != solver_.remote_.end(), "MGRIT adjoint: forward state ", n0,
              " is missing on this rank (internal error)");
      u = it->second.get();
    }
    app_.backward(s, *u, in, &out, final && level == 0);
  }
  long taped_lo = 0, taped_hi = 0;

 private:
  App& app_;
  const ParamPolicy& pol_;
  double h_;
  long n_;
  Solver& solver_;
};

Solver::Solver(App& app, long n_steps) : app_(app), n_(n_steps) {
  require(n_steps >= 1, "MGRIT needs at least 1 time step, got ", n_steps);
}
Solver::~Solver() = default;

CycleOptions& Solver::forward_options() {
  fdirty_ = true;
  return fopt_;
}
CycleOptions& Solver::adjoint_options() {
  adirty_ = true;
  return aopt_;
}
void Solver::set_step_size(double h) {
  require(h > 0, "MGRIT step size must be > 0, got ", h);
  h_ = h;
  fdirty_ = adirty_ = true;
}
void Solver::set_comm(MPI_Comm c) {
  comm_ = c;
  fdirty_ = adirty_ = true;
}
void Solver::set_threads(int n) {
  require(n >= 1, "MGRIT threads must be >= 1, got ", n);
  threads_ = n;
  fdirty_ = adirty_ = true;
}
void Solver::set_warm_start(bool on) { warm_ = on; }
void Solver::set_param_policy(ParamPolicy p) {
  require(bool(p), "MGRIT parameter policy must be callable");
  policy_ = std::move(p);
}
void Solver::add_monitor(Monitor* m) { monitors_.push_back(m); }

void Solver::build_forward() {
  fprop_ = std::make_unique<ForwardProp>(app_, policy_, h_);
  fcore_ = std::make_unique<Core>(app_, *fprop_, fopt_, n_, Comm(comm_, false), threads_);
  fdirty_ = false;
  forward_done_ = false;
  trajectory_planned_ = false;
}

// The layout is a function of the step count, the options and the communicator alone: reading
// it builds nothing, so it neither drops a solution nor rebuilds the Core behind the caller.
Grid Solver::forward_grid() const {
  const Comm c(comm_, false);  // as build_forward's Core: time in rank order
  return Grid(n_, fopt_, c.size(), c.mirrored());
}

long Solver::first_point() const { return forward_grid().lo(0, Comm(comm_, false).pos()); }
long Solver::end_point() const { return forward_grid().hi(0, Comm(comm_, false).pos()); }

std::pair<long, long> Solver::adjoint_layers() const {
  if (!acore_) return {0, 0};
  return {std::max(0L, n_ - acore_->hi()), n_ - acore_->lo()};
}

const Vector* Solver::state(long n) const { return fcore_ ? fcore_->point(n) : nullptr; }

const Vector* Solver::adjoint_state(long n) const {
  return acore_ ? acore_->point(n_ - n) : nullptr;
}

const SolveStats& Solver::solve(const Vector& u0) {
  if (fdirty_ || !fcore_) build_forward();
  like_ = app_.alloc_like(u0);
  fcore_->reset(u0, [&](long n, Vector& u) { app_.init_guess(n, u0, u); }, warm_);
  fwd_stats_ = fcore_->run(monitors_);
  forward_done_ = true;
  remote_.clear();
  return fwd_stats_;
}

// The forward points whose states the adjoint position `apos` linearises at: the forward left end
// N - (i+1)·s of every step i it evaluates, on every level. Level 0 gives its block of layers;
// coarse levels add points past the block where a coarse step runs through the next rank.
static std::vector<long> adjoint_needs(const Grid& ag, int apos, long N) {
  std::vector<long> v;
  for (int l = 0; l < ag.levels(); ++l) {
    const long s = ag.level(l).stride;
    for (long i = ag.lo(l, apos); i < ag.hi(l, apos); ++i)
      if ((i + 1) * s <= N) v.push_back(N - (i + 1) * s);
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

RankLayers rank_layers(long N, const CycleOptions& fopt, const CycleOptions& aopt, int P,
                       int rank) {
  RankLayers r;
  const Grid fg(N, fopt, P, false), ag(N, aopt, P, true);
  for (long n = fg.lo(0, rank); n < std::min(fg.hi(0, rank), N); ++n) r.forward.push_back(n);
  const int apos = P - 1 - rank;
  r.adjoint = adjoint_needs(ag, apos, N);
  for (long i = ag.lo(0, apos); i < ag.hi(0, apos); ++i)
    if (i + 1 <= N) r.gradient.push_back(N - (i + 1));
  std::sort(r.gradient.begin(), r.gradient.end());
  return r;
}

// Which forward states this rank receives from and sends to which rank before an adjoint solve:
// a function of the two grids alone, so made once per pair of Cores (each rank lists every
// rank's needs, O(P·N) work not to repeat every step).
void Solver::plan_trajectory() {
  const Grid& fg = fcore_->grid();
  const Grid& ag = acore_->grid();
  const Comm& fc = fcore_->comm();
  const int P = fc.size(), me = fc.rank();
  auto held = [&](int rank, long n) {  // forward positions are ranks
    return n >= fg.lo(0, rank) && n < std::min(fg.hi(0, rank), n_);
  };
  auto need = [&](int rank) { return adjoint_needs(ag, P - 1 - rank, n_); };  // mirrored
  fetch_in_.clear();
  fetch_out_.clear();
  if (fc.mpi()) {
    for (long n : need(me))
      if (!held(me, n)) fetch_in_.push_back({n, fg.owner(0, n)});
    for (int r = 0; r < P; ++r) {
      if (r == me) continue;
      for (long n : need(r))
        if (held(me, n) && !held(r, n)) fetch_out_.push_back({n, r});
    }
  }
  trajectory_planned_ = true;
}

// Brings the forward states this rank's adjoint needs but another rank stored (the two solves
// split time independently, and coarse adjoint steps may reach past a block). Each pair
// exchanges its states in increasing n.
void Solver::gather_trajectory() {
  if (!trajectory_planned_) plan_trajectory();
  remote_.clear();
  if (fetch_in_.empty() && fetch_out_.empty()) return;
  const Comm& fc = fcore_->comm();
  const std::size_t bytes = app_.packed_bytes(*like_);
  std::vector<std::vector<char>> bufs;
  std::vector<MPI_Request> reqs;
  for (const auto& [n, from] : fetch_in_) {
    bufs.emplace_back(bytes);
    reqs.emplace_back();
    MPI_Irecv(bufs.back().data(), int(bytes), MPI_BYTE, from, 77, fc.comm(), &reqs.back());
  }
  for (const auto& [n, to] : fetch_out_) {
    bufs.emplace_back(bytes);
    app_.pack(*fcore_->point(n), bufs.back().data());
    reqs.emplace_back();
    MPI_Isend(bufs.back().data(), int(bytes), MPI_BYTE, to, 77, fc.comm(), &reqs.back());
  }
  // bufs must not reallocate while requests are pending: it was filled before any wait, and
  // vector<char> payloads keep their addresses when the outer vector grows.
  MPI_Waitall(int(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
  for (std::size_t i = 0; i < fetch_in_.size(); ++i) {  // the receives are bufs[0..)
    auto v = app_.alloc_like(*like_);
    app_.unpack(bufs[i].data(), *v);
    remote_[fetch_in_[i].first] = std::move(v);
  }
}

const SolveStats& Solver::solve_adjoint(const Vector* lam_N) {
  require(forward_done_ && fcore_, "MGRIT: solve_adjoint needs a forward solve first");
  require(fopt_.storage() == Storage::all || fcore_->grid().levels() == 1,
          "MGRIT: the adjoint needs every forward state; set forward storage to All");
  if (adirty_ || !acore_) {
    aprop_ = std::make_unique<AdjointProp>(app_, policy_, h_, n_, *this);
    acore_ = std::make_unique<Core>(app_, *aprop_, aopt_, n_, Comm(comm_, true), threads_);
    adirty_ = false;
    trajectory_planned_ = false;
  }
  aprop_->taped_lo = fcore_->lo();
  aprop_->taped_hi = std::min(fcore_->hi(), n_);
  const bool owner = acore_->lo() == 0;
  require(!owner || lam_N, "MGRIT: solve_adjoint needs lam_N on the rank that owns point N");
  gather_trajectory();
  require(guess_ != AdjointGuess::terminal || lam_N,
          "MGRIT: the terminal adjoint guess needs lam_N on every rank");
  auto cold = [&](long, Vector& v) {
    if (guess_ == AdjointGuess::terminal)
      app_.copy(*lam_N, v);
    else
      app_.axpby(0.0, v, 0.0, v);
  };
  acore_->reset(lam_N ? *lam_N : *like_, cold, warm_ || guess_ == AdjointGuess::previous);
  adj_stats_ = acore_->run(monitors_);
  return adj_stats_;
}

}  // namespace lpt::mgrit
