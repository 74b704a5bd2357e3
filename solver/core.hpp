#pragma once
// FAS MGRIT on one time-stepping problem u[i+1] = Φ_i(u[i]) (forward, or the adjoint in reversed
// time): the cycle, relaxation, restriction, coarse solve and interpolation, spread over ranks
// (positions) and threads. The problem comes as a Propagator; the state algebra from the App.
#include <functional>
#include <memory>
#include <vector>

#include "solver/app.hpp"
#include "solver/comm.hpp"
#include "solver/grid.hpp"
#include "solver/options.hpp"
#include "solver/stats.hpp"
#include "solver/trace.hpp"

namespace lpt::mgrit {

class Propagator {
 public:
  virtual ~Propagator() = default;
  virtual bool adjoint() const = 0;
  // out = Φ on `level` over fine indices [fine_begin, fine_end) of the solve's own time axis.
  // `final` marks the final sweep on level 0 (tapes, parameter gradients).
  virtual void step(int level, long fine_begin, long fine_end, const Vector& in, Vector& out,
                    bool final) = 0;
};

class Core {
 public:
  Core(App& app, Propagator& prop, const CycleOptions& opt, long n_steps, Comm comm, int threads);
  ~Core();  // defined where Level and Tally are complete
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  const Grid& grid() const { return grid_; }
  const Comm& comm() const { return comm_; }
  // Sets point 0 to u0 (position 0) and the other finest points to guess(n, u) unless `warm`
  // and a previous solve left states. Every rank passes u0 (it is the shape template).
  void reset(const Vector& u0, const std::function<void(long, Vector&)>& guess, bool warm);
  SolveStats run(const std::vector<Monitor*>& monitors);
  // Reports every event of the following runs to `t` (not owned; nullptr: off). Needs one thread,
  // since the events must come in program order.
  void set_trace(Trace* t);

  long lo() const { return grid_.lo(0, comm_.pos()); }
  long hi() const { return grid_.hi(0, comm_.pos()); }
  // Finest-level point n owned here and stored (nullptr otherwise).
  const Vector* point(long n) const;

 private:
  struct Level;
  struct Tally;
  bool relax_and_restrict(int l, bool skip, int iter, SolveStats& st,
                          const std::vector<Monitor*>& mon);
  void cycle(int l, Cycle type, bool skip, int iter, SolveStats& st,
             const std::vector<Monitor*>& mon, bool& done);
  struct Plan;
  Plan plan(int l, bool want_out, bool want_cstep) const;
  void sweep(int l, bool want_out, bool want_cstep, bool final);
  void sweep_segment(int tid, int l, long a, const Plan& p, bool final);
  void post_sends(int l, const Plan& p);
  void c_update(int l);
  void restrict_to(int l, bool skip);
  double residual_norm();
  void interpolate(int lc);
  void coarsest_solve(bool final);
  void eval(int tid, int level, long i, const Vector& in, Vector& out, bool final);
  Vector* store(int l, long j, int tid, int parity);
  Vector& out_at(int l, long c) const;
  Vector& cstep_at(int l, long c) const;
  void allocate(const Vector& like);
  int rank_at(int l, long i) const { return comm_.rank_of(grid_.owner(l, i)); }
  void note_vec(int count) const {
    if (trace_) trace_->vector_ops(count);
  }

  App& app_;
  Propagator& prop_;
  CycleOptions opt_;
  Grid grid_;
  Comm comm_;
  int threads_;
  // Levels and per-thread scratch, owned here (a Core is not copyable).
  std::vector<std::unique_ptr<Level>> lv_;
  std::vector<std::unique_ptr<Tally>> tally_;
  std::size_t bytes_ = 0;
  // Message buffers (Φ into the next rank's first point, the coarse step into its first C-point),
  // kept to avoid reallocating per sweep.
  std::vector<char> sbuf_out_, sbuf_cs_, rbuf_out_, rbuf_cs_;
  Trace* trace_ = nullptr;
  bool have_states_ = false;
  double mpi_wait_ = 0, pack_time_ = 0, vec_time_ = 0;
};

}  // namespace lpt::mgrit
