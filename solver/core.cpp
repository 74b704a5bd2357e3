#include "solver/core.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "util/error.hpp"

namespace lpt::mgrit {

namespace {
constexpr int kTagSweep = 100;    // + level
constexpr int kTagCoarsest = 90;
}  // namespace

struct Core::Level {
  long n = 0, lo = 0, hi = 0, stride = 1;
  int m = 0;
  std::vector<VectorPtr> u, g;        // indexed by point - lo; g empty on level 0
  std::vector<VectorPtr> out, cstep;  // per owned interval: Φ into the next C-point, coarse step
  VectorPtr in_out, in_cstep;         // the same, received for point lo from the left neighbour
};

// Per-thread counters and scratch, so threads never share a write.
struct Core::Tally {
  std::vector<long> evals;
  long grads = 0;
  double t_eval = 0, t_vec = 0;
  VectorPtr a, b, tmp;
};

Core::Core(App& app, Propagator& prop, const CycleOptions& opt, long n_steps, Comm comm,
           int threads)
    : app_(app), prop_(prop), opt_(opt), grid_(n_steps, opt, comm.size(), comm.mirrored()), comm_(comm),
      threads_(std::max(1, threads)) {
  for (int l = 0; l < grid_.levels(); ++l) {
    auto L = std::make_unique<Level>();
    const LevelGrid& g = grid_.level(l);
    L->n = g.n;
    L->m = g.m;
    L->stride = g.stride;
    L->lo = grid_.lo(l, comm_.pos());
    L->hi = grid_.hi(l, comm_.pos());
    lv_.push_back(std::move(L));
  }
  for (int t = 0; t < threads_; ++t) tally_.push_back(std::make_unique<Tally>());
}

Core::~Core() = default;

void Core::set_trace(Trace* t) {
  require(!t || threads_ == 1, "MGRIT: a Trace needs threads = 1 (events must come in order), got ",
          threads_, " threads");
  trace_ = t;
}

long Core::n_intervals(int l) const {
  const Level& L = *lv_[l];
  return (L.hi - L.lo + L.m - 1) / L.m;
}

void Core::allocate(const Vector& like) {
  bytes_ = app_.packed_bytes(like);
  const int nl = grid_.levels();
  const bool c_only = opt_.storage() == Storage::c_points && nl > 1;
  for (int l = 0; l < nl; ++l) {
    Level& L = *lv_[l];
    L.u.resize(L.hi - L.lo);
    for (long j = L.lo; j < L.hi; ++j)
      if (!(l == 0 && c_only && j % L.m != 0)) L.u[j - L.lo] = app_.alloc_like(like);
    if (l > 0) {
      L.g.resize(L.hi - L.lo);
      for (long j = std::max(1L, L.lo); j < L.hi; ++j) L.g[j - L.lo] = app_.alloc_like(like);
    }
    if (l < nl - 1) {
      for (long i = 0; i < n_intervals(l); ++i) {
        L.out.push_back(app_.alloc_like(like));
        L.cstep.push_back(app_.alloc_like(like));
      }
    }
    if (L.lo > 0) {
      L.in_out = app_.alloc_like(like);
      L.in_cstep = app_.alloc_like(like);
    }
  }
  for (auto& t : tally_) {
    t->a = app_.alloc_like(like);
    t->b = app_.alloc_like(like);
    t->tmp = app_.alloc_like(like);
  }
}

void Core::reset(const Vector& u0, const std::function<void(long, Vector&)>& guess, bool warm) {
  const bool fresh = lv_[0]->u.empty();
  if (fresh) allocate(u0);
  Level& L = *lv_[0];
  const bool keep = warm && have_states_;
  for (long j = L.lo; j < L.hi; ++j) {
    Vector* u = L.u[j - L.lo].get();
    if (!u) continue;
    if (j == 0)
      app_.copy(u0, *u);
    else if (!keep)
      guess(j, *u);
  }
}

const Vector* Core::point(long n) const {
  const Level& L = *lv_[0];
  if (n < L.lo || n >= L.hi || L.u.empty()) return nullptr;
  return L.u[n - L.lo].get();
}

void Core::eval(int tid, int level, long i, const Vector& in, Vector& out, bool final) {
  Tally& t = *tally_[tid];
  const long s = lv_[level]->stride;
  const double t0 = omp_get_wtime();
  prop_.step(level, i * s, (i + 1) * s, in, out, final);
  t.t_eval += omp_get_wtime() - t0;
  if (trace_) trace_->step(level, i * s, (i + 1) * s, final);
  ++t.evals[level];
  if (final && level == 0 && prop_.adjoint()) ++t.grads;
}

Vector* Core::store(int l, long j, int tid, int parity) {
  Level& L = *lv_[l];
  Vector* u = L.u[j - L.lo].get();
  if (u) return u;
  return parity ? tally_[tid]->b.get() : tally_[tid]->a.get();
}

const Vector& Core::out_of(int l, long c) const {
  const Level& L = *lv_[l];
  return c == L.lo ? *L.in_out : *L.out[(c - L.lo) / L.m - 1];
}

const Vector& Core::cstep_of(int l, long c) const {
  const Level& L = *lv_[l];
  return c == L.lo ? *L.in_cstep : *L.cstep[(c - L.lo) / L.m - 1];
}

// F-relaxation of one interval (from its C-point over its F-points, adding the FAS right-hand
// side), then optionally Φ of its last point (what lands on the next C-point) and the coarse step
// of its C-point: the two pieces that C-relaxation and restriction need.
void Core::sweep_interval(int tid, int l, long i, bool want_out, bool want_cstep, bool final) {
  Level& L = *lv_[l];
  Tally& t = *tally_[tid];
  const long c = L.lo + i * L.m;
  const long last = std::min(c + L.m - 1, L.hi - 1);
  const Vector* x = L.u[c - L.lo].get();
  int parity = 0;
  for (long j = c; j < last; ++j) {
    Vector* dst = store(l, j + 1, tid, parity);
    parity ^= 1;
    eval(tid, l, j, *x, *dst, final);
    if (l > 0) {
      const double t0 = omp_get_wtime();
      app_.axpby(1.0, *L.g[j + 1 - L.lo], 1.0, *dst);
      t.t_vec += omp_get_wtime() - t0;
      note_vec(1);
    }
    x = dst;
  }
  const bool complete = c + L.m <= L.n;
  if (want_out && complete) eval(tid, l, last, *x, *L.out[i], final);
  if (want_cstep && complete) eval(tid, l + 1, c / L.m, *L.u[c - L.lo], *L.cstep[i], false);
}

// All owned intervals of level l. The interval whose result belongs to the right neighbour is
// done first and sent at once, so the neighbour's wait overlaps this rank's interior work.
void Core::sweep(int l, bool want_out, bool want_cstep, bool final) {
  Level& L = *lv_[l];
  const long ni = n_intervals(l);
  const bool talk = comm_.parallel() && want_out;
  const bool send = talk && L.hi <= L.n;
  const bool recv = talk && L.lo > 0;
  const int nmsg = want_cstep ? 2 : 1;
  std::vector<char>& sbuf = sbuf_;
  std::vector<char>& rbuf = rbuf_;
  MPI_Request req[2];
  int nreq = 0;
  const int left = comm_.rank_of(comm_.pos() - 1), right = comm_.rank_of(comm_.pos() + 1);
  if (recv && comm_.mpi()) {
    rbuf.resize(bytes_ * nmsg);
    MPI_Irecv(rbuf.data(), int(rbuf.size()), MPI_BYTE, left, kTagSweep + l, comm_.comm(),
              &req[nreq++]);
  }
  long end = ni;
  if (send) {
    sweep_interval(0, l, ni - 1, want_out, want_cstep, final);
    const double t0 = omp_get_wtime();
    sbuf.resize(bytes_ * nmsg);
    app_.pack(*L.out[ni - 1], sbuf.data());
    if (want_cstep) app_.pack(*L.cstep[ni - 1], sbuf.data() + bytes_);
    pack_time_ += omp_get_wtime() - t0;
    note_vec(nmsg);
    if (comm_.mpi())
      MPI_Isend(sbuf.data(), int(sbuf.size()), MPI_BYTE, right, kTagSweep + l, comm_.comm(),
                &req[nreq++]);
    if (trace_) trace_->send(right, bytes_ * nmsg, kTagSweep + l);
    end = ni - 1;
  }
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && end > 1)
  for (long i = 0; i < end; ++i) sweep_interval(omp_get_thread_num(), l, i, want_out, want_cstep, final);
  if (nreq) {
    const double t0 = omp_get_wtime();
    MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE);
    mpi_wait_ += omp_get_wtime() - t0;
  }
  if (recv) {
    if (trace_) trace_->wait_recv(left, bytes_ * nmsg, kTagSweep + l);
    const double t0 = omp_get_wtime();
    if (comm_.mpi()) {  // simulated: nothing arrived, and the states' values do not matter
      app_.unpack(rbuf.data(), *L.in_out);
      if (want_cstep) app_.unpack(rbuf.data() + bytes_, *L.in_cstep);
    }
    pack_time_ += omp_get_wtime() - t0;
    note_vec(nmsg);
  }
}

// C-relaxation: u[c] = Φ(u[c-1]) + g[c] at every owned C-point but 0.
void Core::c_update(int l) {
  Level& L = *lv_[l];
  const long first = std::max(long(L.m), L.lo);
  const long nc = (L.hi - 1 < first) ? 0 : (std::min(L.hi - 1, L.n) - first) / L.m + 1;
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && nc > 1)
  for (long k = 0; k < nc; ++k) {
    Tally& t = *tally_[omp_get_thread_num()];
    const long c = first + k * L.m;
    const double t0 = omp_get_wtime();
    Vector& u = *L.u[c - L.lo];
    app_.copy(out_of(l, c), u);
    if (l > 0) app_.axpby(1.0, *L.g[c - L.lo], 1.0, u);
    t.t_vec += omp_get_wtime() - t0;
    note_vec(l > 0 ? 2 : 1);
  }
}

// Injection of the C-points to level l+1 and the FAS right-hand side there:
// g_c[i] = g[c] + Φ(u[c-1]) - Φ_c(u_c[i-1]). With `skip`, the coarse level gets only the
// injected guess and level l's own right-hand side (the plain rediscretised problem).
void Core::restrict_to(int l, bool skip) {
  Level& F = *lv_[l];
  Level& C = *lv_[l + 1];
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && C.hi - C.lo > 1)
  for (long i = C.lo; i < C.hi; ++i) {
    Tally& t = *tally_[omp_get_thread_num()];
    const double t0 = omp_get_wtime();
    const long c = i * F.m;
    app_.copy(*F.u[c - F.lo], *C.u[i - C.lo]);
    int ops = 1;
    if (i >= 1) {
      Vector& g = *C.g[i - C.lo];
      if (skip) {
        if (l > 0)
          app_.copy(*F.g[c - F.lo], g);
        else
          app_.axpby(0.0, g, 0.0, g);
        ops += 1;
      } else {
        app_.copy(out_of(l, c), g);
        app_.axpby(-1.0, cstep_of(l, c), 1.0, g);
        if (l > 0) app_.axpby(1.0, *F.g[c - F.lo], 1.0, g);
        ops += l > 0 ? 3 : 2;
      }
    }
    t.t_vec += omp_get_wtime() - t0;
    note_vec(ops);
  }
}

// XBraid's residual: 2-norm over the finest C-points of Φ(u[c-1]) - u[c], after the F-sweep.
double Core::residual_norm() {
  Level& L = *lv_[0];
  const long first = std::max(long(L.m), L.lo);
  const long nc = (L.hi - 1 < first) ? 0 : (std::min(L.hi - 1, L.n) - first) / L.m + 1;
  std::vector<double> sq(nc > 0 ? nc : 0);
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && nc > 1)
  for (long k = 0; k < nc; ++k) {
    Tally& t = *tally_[omp_get_thread_num()];
    const double t0 = omp_get_wtime();
    const long c = first + k * L.m;
    app_.copy(out_of(0, c), *t.tmp);
    app_.axpby(-1.0, *L.u[c - L.lo], 1.0, *t.tmp);
    sq[k] = app_.norm_sq(*t.tmp);
    t.t_vec += omp_get_wtime() - t0;
    note_vec(3);
  }
  if (trace_) trace_->reduce();
  return std::sqrt(comm_.ordered_sum(sq, &mpi_wait_));
}

// Coarse level lc corrects level lc-1: F-relax lc (not needed on the coarsest, solved exactly),
// then inject its points onto the C-points below. Injection equals the FAS correction
// u + (v_c - R u) because level lc-1's C-points have not changed since restriction.
void Core::interpolate(int lc) {
  if (lc < grid_.levels() - 1) sweep(lc, false, false, false);
  Level& F = *lv_[lc - 1];
  Level& C = *lv_[lc];
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && C.hi - C.lo > 1)
  for (long i = C.lo; i < C.hi; ++i) {
    Tally& t = *tally_[omp_get_thread_num()];
    const double t0 = omp_get_wtime();
    app_.copy(*C.u[i - C.lo], *F.u[i * F.m - F.lo]);
    t.t_vec += omp_get_wtime() - t0;
    note_vec(1);
  }
}

// Sequential stepping on the coarsest level, pipelined over ranks: each waits for Φ of its left
// neighbour's last point, steps through its block and passes Φ of its own last point on.
void Core::coarsest_solve(bool final) {
  const int l = grid_.levels() - 1;
  Level& L = *lv_[l];
  Tally& t = *tally_[0];
  std::vector<char> buf(bytes_);
  auto add_g = [&](long j) {
    if (l == 0) return;
    const double t0 = omp_get_wtime();
    app_.axpby(1.0, *L.g[j - L.lo], 1.0, *L.u[j - L.lo]);
    t.t_vec += omp_get_wtime() - t0;
    note_vec(1);
  };
  if (comm_.parallel() && L.lo > 0) {
    const int left = comm_.rank_of(comm_.pos() - 1);
    if (trace_) trace_->wait_recv(left, bytes_, kTagCoarsest);
    if (comm_.mpi()) {
      double t0 = omp_get_wtime();
      MPI_Recv(buf.data(), int(bytes_), MPI_BYTE, left, kTagCoarsest, comm_.comm(),
               MPI_STATUS_IGNORE);
      mpi_wait_ += omp_get_wtime() - t0;
      t0 = omp_get_wtime();
      app_.unpack(buf.data(), *L.u[0]);
      pack_time_ += omp_get_wtime() - t0;
    }
    note_vec(1);
    add_g(L.lo);
  }
  for (long j = L.lo; j + 1 < L.hi; ++j) {
    eval(0, l, j, *L.u[j - L.lo], *L.u[j + 1 - L.lo], final);
    add_g(j + 1);
  }
  if (comm_.parallel() && L.hi <= L.n) {
    const int right = comm_.rank_of(comm_.pos() + 1);
    eval(0, l, L.hi - 1, *L.u[L.hi - 1 - L.lo], *t.tmp, final);
    double t0 = omp_get_wtime();
    app_.pack(*t.tmp, buf.data());
    pack_time_ += omp_get_wtime() - t0;
    note_vec(1);
    if (trace_) trace_->send(right, bytes_, kTagCoarsest);
    if (comm_.mpi()) {
      t0 = omp_get_wtime();
      MPI_Send(buf.data(), int(bytes_), MPI_BYTE, right, kTagCoarsest, comm_.comm());
      mpi_wait_ += omp_get_wtime() - t0;
    }
  }
}

bool Core::relax_and_restrict(int l, bool skip, int iter, SolveStats& st,
                              const std::vector<Monitor*>& mon) {
  if (!skip) {
    if (opt_.relax(l) == Relax::FCF) {
      sweep(l, true, false, false);
      c_update(l);
    }
    sweep(l, true, true, false);
  }
  double res = -1;
  if (l == 0 && !skip) res = residual_norm();
  restrict_to(l, skip);
  if (l != 0) return false;
  IterationRecord it;
  it.iter = iter;
  it.residual = res;
  const double prev = st.history.empty() ? -1 : st.history.back().residual;
  it.conv_factor = (res >= 0 && prev > 0) ? res / prev : -1;
  st.history.push_back(it);
  if (res < 0) return false;
  double first = res;
  for (const auto& h : st.history)
    if (h.residual >= 0) {
      first = h.residual;
      break;
    }
  return (opt_.abs_tol() > 0 && res <= opt_.abs_tol()) ||
         (opt_.rel_tol() > 0 && res <= opt_.rel_tol() * first);
}

void Core::cycle(int l, Cycle type, bool skip, int iter, SolveStats& st,
                 const std::vector<Monitor*>& mon, bool& done) {
  const int nl = grid_.levels();
  if (l == nl - 1) {
    coarsest_solve(false);
    return;
  }
  if (relax_and_restrict(l, skip, iter, st, mon)) {
    done = true;  // converged: the coarse correction would be wasted work
    return;
  }
  cycle(l + 1, type, skip, iter, st, mon, done);
  // F-cycle: a second, V, visit to the coarse level before going up (pointless on the coarsest,
  // which is solved exactly).
  if (type == Cycle::F && l + 1 < nl - 1) cycle(l + 1, Cycle::V, false, iter, st, mon, done);
  interpolate(l + 1);
}

SolveStats Core::run(const std::vector<Monitor*>& mon) {
  require(!lv_[0]->u.empty(), "MGRIT: Core::reset must be called before run");
  const int nl = grid_.levels();
  SolveStats st;
  st.adjoint = prop_.adjoint();
  for (int l = 0; l < nl; ++l) st.level_steps.push_back(lv_[l]->n);
  for (auto& t : tally_) {
    t->evals.assign(nl, 0);
    t->grads = 0;
    t->t_eval = t->t_vec = 0;
  }
  mpi_wait_ = pack_time_ = vec_time_ = 0;
  const double t0 = omp_get_wtime();
  if (nl == 1) {
    coarsest_solve(true);
    st.iterations = 1;
    st.converged = true;
    st.final_residual = 0;
  } else {
    for (int k = 0; k < opt_.max_iter(); ++k) {
      bool done = false;
      cycle(0, opt_.cycle(), opt_.skip() && k == 0, k, st, mon, done);
      st.iterations = k + 1;
      st.history.back().wall = omp_get_wtime() - t0;
      for (auto* m : mon) m->on_iteration(st, st.history.back());
      if (done) {
        st.converged = true;
        break;
      }
      for (auto* m : mon) st.stopped = m->wants_stop(st) || st.stopped;
      if (st.stopped) break;
    }
    // Final sweep: every finest point consistent with its C-point (taped / gradients taken
    // here, each step exactly once), and the residual of the returned solution.
    sweep(0, true, false, true);
    st.final_residual = residual_norm();
  }
  st.timers.total = omp_get_wtime() - t0;
  st.evals.assign(nl, 0);
  for (auto& t : tally_) {
    for (int l = 0; l < nl; ++l) st.evals[l] += t->evals[l];
    st.param_grads += t->grads;
    (st.adjoint ? st.timers.vjp : st.timers.step) += t->t_eval;
    st.timers.vec += t->t_vec;
  }
  st.timers.vec += vec_time_;
  st.timers.pack = pack_time_;
  st.timers.mpi_wait = mpi_wait_;
  std::vector<long> all = st.evals;
  all.push_back(st.param_grads);
  comm_.sum_longs(all);
  if (trace_) trace_->reduce();
  st.param_grads_all_ranks = all.back();
  all.pop_back();
  st.evals_all_ranks = all;
  have_states_ = true;
  for (auto* m : mon) m->on_solve_end(st);
  return st;
}

}  // namespace lpt::mgrit
