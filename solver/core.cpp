#include "solver/core.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "util/error.hpp"

namespace lpt::mgrit {

namespace {
constexpr int kTagSweep = 100;    // + level: Φ into the next rank's first point (+ coarse step)
constexpr int kTagCstep = 200;    // + level: a coarse step alone, when it goes to another rank
constexpr int kTagCoarsest = 90;
}  // namespace

struct Core::Level {
  long n = 0, lo = 0, hi = 0, stride = 1;
  int m = 0;
  long c0 = 0;                        // first C-point >= lo (a multiple of m)
  std::vector<VectorPtr> u, g;        // indexed by point - lo; g empty on level 0
  // Per owned C-point c, index (c - c0) / m (null at c = 0): what lands there from the left,
  // Φ(u[c-1]) and the coarse step from c - m, computed here or received.
  std::vector<VectorPtr> out, cstep;
  VectorPtr chain_in;                 // Φ(u[lo-1]) when lo is an F-point (the interval runs on)
  VectorPtr send_out, send_cstep;     // the same two for points of the next rank
};

// Who sends what to whom in one sweep of a level. A rank's first points may continue an
// F-interval begun on the left (coarse levels above the alignment level), and the coarse step of
// its last C-point may land on a rank further right than its neighbour.
struct Core::Plan {
  bool want_out = false, want_cstep = false;
  bool chain_start = false;  // lo is an F-point: its value is Φ(u[lo-1]) from the left
  bool has_c = false;        // the rank owns a C-point
  long last_c = -1;
  bool recv_out = false, recv_cs = false, send_out = false, send_cs = false;
  int from_out = -1, from_cs = -1, to_out = -1, to_cs = -1;
  bool recv_joint() const { return recv_out && recv_cs && from_out == from_cs; }
  bool send_joint() const { return send_out && send_cs && to_out == to_cs; }
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
    L->c0 = g.m > 0 ? (L->lo + g.m - 1) / g.m * g.m : L->lo;
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
    if (l == nl - 1 || L.lo >= L.hi) continue;
    for (long c = L.c0; c < L.hi; c += L.m) {
      L.out.push_back(c > 0 ? app_.alloc_like(like) : nullptr);
      L.cstep.push_back(c > 0 ? app_.alloc_like(like) : nullptr);
    }
    if (L.lo % L.m != 0) L.chain_in = app_.alloc_like(like);
    if (L.hi <= L.n) {
      L.send_out = app_.alloc_like(like);
      if (L.c0 < L.hi) L.send_cstep = app_.alloc_like(like);
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

Vector& Core::out_at(int l, long c) const {
  const Level& L = *lv_[l];
  return *L.out[(c - L.c0) / L.m];
}

Vector& Core::cstep_at(int l, long c) const {
  const Level& L = *lv_[l];
  return *L.cstep[(c - L.c0) / L.m];
}

Core::Plan Core::plan(int l, bool want_out, bool want_cstep) const {
  const Level& L = *lv_[l];
  Plan p;
  p.want_out = want_out;
  p.want_cstep = want_cstep;
  p.chain_start = L.lo % L.m != 0;
  p.has_c = L.c0 < L.hi;
  if (p.has_c) p.last_c = L.c0 + (L.hi - 1 - L.c0) / L.m * L.m;
  // Φ of the last point crosses to the next rank when it lands on an F-point there (the interval
  // runs on) or on a C-point whose value is wanted.
  p.recv_out = L.lo > 0 && (p.chain_start || want_out);
  p.send_out = L.hi <= L.n && (L.hi % L.m != 0 || want_out);
  p.recv_cs = want_cstep && p.has_c && L.c0 >= L.m && L.c0 - L.m < L.lo;
  p.send_cs = want_cstep && p.has_c && p.last_c + L.m <= L.n && p.last_c + L.m >= L.hi;
  if (p.recv_out) p.from_out = rank_at(l, L.lo - 1);
  if (p.recv_cs) p.from_cs = rank_at(l, L.c0 - L.m);
  if (p.send_out) p.to_out = rank_at(l, L.hi);
  if (p.send_cs) p.to_cs = rank_at(l, p.last_c + L.m);
  return p;
}

// F-relaxation of one segment: from point a (a C-point, or lo continuing an interval from the
// left) over the F-points up to the next C-point or the block's end, adding the FAS right-hand
// side; then Φ of its last point (what lands on the next C-point, or on the next rank's first
// point) and, from a C-point, its coarse step: the pieces C-relaxation and restriction need.
void Core::sweep_segment(int tid, int l, long a, const Plan& p, bool final) {
  Level& L = *lv_[l];
  Tally& t = *tally_[tid];
  const long next_c = (a / L.m + 1) * L.m;
  const long stop = std::min({next_c, L.hi, L.n + 1});  // points a+1 .. stop-1 are updated here
  int parity = 0;
  auto add_g = [&](long j, Vector& v) {
    if (l == 0) return;
    const double t0 = omp_get_wtime();
    app_.axpby(1.0, *L.g[j - L.lo], 1.0, v);
    t.t_vec += omp_get_wtime() - t0;
    note_vec(1);
  };
  const Vector* x = L.u[a - L.lo].get();
  if (a % L.m != 0) {  // the interval's earlier points live on the left: start from its Φ
    Vector* dst = store(l, a, tid, parity);
    parity ^= 1;
    const double t0 = omp_get_wtime();
    app_.copy(*L.chain_in, *dst);
    t.t_vec += omp_get_wtime() - t0;
    note_vec(1);
    add_g(a, *dst);
    x = dst;
  }
  for (long j = a; j + 1 < stop; ++j) {
    Vector* dst = store(l, j + 1, tid, parity);
    parity ^= 1;
    eval(tid, l, j, *x, *dst, final);
    add_g(j + 1, *dst);
    x = dst;
  }
  const long land = std::min(next_c, L.hi);
  if (land < L.hi) {
    if (p.want_out) eval(tid, l, land - 1, *x, out_at(l, land), final);
  } else if (p.send_out) {
    eval(tid, l, land - 1, *x, *L.send_out, final);
  }
  if (p.want_cstep && a % L.m == 0 && a + L.m <= L.n)
    eval(tid, l + 1, a / L.m, *L.u[a - L.lo], a + L.m < L.hi ? cstep_at(l, a + L.m) : *L.send_cstep,
         false);
}

void Core::post_sends(int l, const Plan& p) {
  const Level& L = *lv_[l];
  auto send = [&](std::vector<char>& buf, int nvec, const Vector* first, const Vector* second,
                  int to, int tag) {
    const double t0 = omp_get_wtime();
    buf.resize(bytes_ * nvec);
    app_.pack(*first, buf.data());
    if (second) app_.pack(*second, buf.data() + bytes_);
    pack_time_ += omp_get_wtime() - t0;
    note_vec(nvec);
    if (trace_) trace_->send(to, bytes_ * nvec, tag);
  };
  if (p.send_joint()) {
    send(sbuf_out_, 2, L.send_out.get(), L.send_cstep.get(), p.to_out, kTagSweep + l);
  } else {
    if (p.send_out) send(sbuf_out_, 1, L.send_out.get(), nullptr, p.to_out, kTagSweep + l);
    if (p.send_cs) send(sbuf_cs_, 1, L.send_cstep.get(), nullptr, p.to_cs, kTagCstep + l);
  }
}

// All owned segments of level l. The segment whose results belong to another rank is done first
// and sent at once, so the receiver's wait overlaps this rank's other work (unless it must wait
// for the left itself: a rank holding only F-points of one interval).
void Core::sweep(int l, bool want_out, bool want_cstep, bool final) {
  Level& L = *lv_[l];
  if (L.lo >= L.hi) return;  // no point of this level here
  const Plan p = plan(l, want_out, want_cstep);
  const bool mpi = comm_.mpi();
  std::vector<MPI_Request> req;
  req.reserve(4);
  MPI_Request rq_out = MPI_REQUEST_NULL;
  if (p.recv_out && mpi) {
    rbuf_out_.resize(bytes_ * (p.recv_joint() ? 2 : 1));
    MPI_Irecv(rbuf_out_.data(), int(rbuf_out_.size()), MPI_BYTE, p.from_out, kTagSweep + l,
              comm_.comm(), &rq_out);
  }
  if (p.recv_cs && !p.recv_joint() && mpi) {
    rbuf_cs_.resize(bytes_);
    req.emplace_back();
    MPI_Irecv(rbuf_cs_.data(), int(bytes_), MPI_BYTE, p.from_cs, kTagCstep + l, comm_.comm(),
              &req.back());
  }
  auto isend = [&](std::vector<char>& buf, int to, int tag) {
    req.emplace_back();
    MPI_Isend(buf.data(), int(buf.size()), MPI_BYTE, to, tag, comm_.comm(), &req.back());
  };
  auto send_all = [&]() {
    post_sends(l, p);
    if (!mpi) return;
    if (p.send_joint()) {
      isend(sbuf_out_, p.to_out, kTagSweep + l);
      return;
    }
    if (p.send_out) isend(sbuf_out_, p.to_out, kTagSweep + l);
    if (p.send_cs) isend(sbuf_cs_, p.to_cs, kTagCstep + l);
  };
  const bool sends = p.send_out || p.send_cs;
  const bool last_first = sends && p.has_c;
  if (last_first) {
    sweep_segment(0, l, p.last_c, p, final);
    send_all();
  }
  // The segments from this rank's own C-points, in parallel.
  const long nseg = p.has_c ? (p.last_c - L.c0) / L.m + (last_first ? 0 : 1) : 0;
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && nseg > 1)
  for (long k = 0; k < nseg; ++k) sweep_segment(omp_get_thread_num(), l, L.c0 + k * L.m, p, final);
  if (p.recv_out) {
    if (trace_) trace_->wait_recv(p.from_out, bytes_ * (p.recv_joint() ? 2 : 1), kTagSweep + l);
    if (mpi) {
      double t0 = omp_get_wtime();
      MPI_Wait(&rq_out, MPI_STATUS_IGNORE);
      mpi_wait_ += omp_get_wtime() - t0;
      t0 = omp_get_wtime();
      app_.unpack(rbuf_out_.data(), p.chain_start ? *L.chain_in : out_at(l, L.lo));
      if (p.recv_joint()) app_.unpack(rbuf_out_.data() + bytes_, cstep_at(l, L.c0));
      pack_time_ += omp_get_wtime() - t0;
    }
    note_vec(p.recv_joint() ? 2 : 1);
  }
  if (p.chain_start) {  // simulated: nothing arrived, and the states' values do not matter
    sweep_segment(0, l, L.lo, p, final);
    if (sends && !p.has_c) send_all();
  }
  if (p.recv_cs && !p.recv_joint() && trace_) trace_->wait_recv(p.from_cs, bytes_, kTagCstep + l);
  if (!req.empty()) {
    const double t0 = omp_get_wtime();
    MPI_Waitall(int(req.size()), req.data(), MPI_STATUSES_IGNORE);
    mpi_wait_ += omp_get_wtime() - t0;
  }
  if (p.recv_cs && !p.recv_joint()) {
    const double t0 = omp_get_wtime();
    if (mpi) app_.unpack(rbuf_cs_.data(), cstep_at(l, L.c0));
    pack_time_ += omp_get_wtime() - t0;
    note_vec(1);
  }
}

// C-relaxation: u[c] = Φ(u[c-1]) + g[c] at every owned C-point but 0.
void Core::c_update(int l) {
  Level& L = *lv_[l];
  const long first = std::max(long(L.m), L.c0);
  const long nc = (L.hi - 1 < first) ? 0 : (std::min(L.hi - 1, L.n) - first) / L.m + 1;
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && nc > 1)
  for (long k = 0; k < nc; ++k) {
    Tally& t = *tally_[omp_get_thread_num()];
    const long c = first + k * L.m;
    const double t0 = omp_get_wtime();
    Vector& u = *L.u[c - L.lo];
    app_.copy(out_at(l, c), u);
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
        app_.copy(out_at(l, c), g);
        app_.axpby(-1.0, cstep_at(l, c), 1.0, g);
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
  const long first = std::max(long(L.m), L.c0);
  const long nc = (L.hi - 1 < first) ? 0 : (std::min(L.hi - 1, L.n) - first) / L.m + 1;
  std::vector<double> sq(nc > 0 ? nc : 0);
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && nc > 1)
  for (long k = 0; k < nc; ++k) {
    Tally& t = *tally_[omp_get_thread_num()];
    const double t0 = omp_get_wtime();
    const long c = first + k * L.m;
    app_.copy(out_at(0, c), *t.tmp);
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

// Sequential stepping on the coarsest level, pipelined over the ranks that own points there: each
// waits for Φ of the previous owner's last point, steps through its block and passes Φ of its own
// last point to the next owner.
void Core::coarsest_solve(bool final) {
  const int l = grid_.levels() - 1;
  Level& L = *lv_[l];
  if (L.lo >= L.hi) return;  // no point of the coarsest level here: nothing to wait for
  Tally& t = *tally_[0];
  std::vector<char> buf(bytes_);
  auto add_g = [&](long j) {
    if (l == 0) return;
    const double t0 = omp_get_wtime();
    app_.axpby(1.0, *L.g[j - L.lo], 1.0, *L.u[j - L.lo]);
    t.t_vec += omp_get_wtime() - t0;
    note_vec(1);
  };
  if (L.lo > 0) {
    const int left = rank_at(l, L.lo - 1);
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
  if (L.hi <= L.n) {
    const int right = rank_at(l, L.hi);
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
