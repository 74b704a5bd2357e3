// `lpt mgrit`: the MGRIT solver on its test ODEs, forward and (optionally) adjoint, with an
// XBraid-like per-iteration table and an optional HDF5 record.
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "experiments/command.hpp"
#include "solver/history_h5.hpp"
#include "solver/ode_problems.hpp"
#include "solver/solver.hpp"
#include "util/error.hpp"

namespace {

using namespace lpt::mgrit;
namespace cli = lpt::cli;

// Prints XBraid's table on rank 0, as the solve reports each iteration.
class TablePrinter : public Monitor {
 public:
  explicit TablePrinter(bool on) : on_(on) {}
  void on_iteration(const SolveStats& s, const IterationRecord& it) override {
    if (!on_) return;
    if (it.iter == 0)
      std::printf("  %s\n  iter   ||r||          conv.factor   wall [s]\n",
                  s.adjoint ? "adjoint" : "forward");
    char res[32] = "not available", cf[32] = "-";
    if (it.residual >= 0) std::snprintf(res, sizeof res, "%.6e", it.residual);
    if (it.conv_factor >= 0) std::snprintf(cf, sizeof cf, "%.4f", it.conv_factor);
    std::printf("  %4d   %-13s  %-12s  %.4e\n", it.iter, res, cf, it.wall);
  }
  void on_solve_end(const SolveStats& s) override {
    if (!on_) return;
    std::printf("  %s: %d iterations, %s, final residual %.6e, time %.4e s\n  evaluations per "
                "level:",
                s.adjoint ? "adjoint" : "forward", s.iterations,
                s.converged                           ? "converged"
                : std::isfinite(s.final_residual) ? "not converged"
                                                  : "diverged",
                s.final_residual, s.timers.total);
    for (long e : s.evals_all_ranks) std::printf(" %ld", e);
    std::printf("\n");
  }

 private:
  bool on_;
};

// Bounds of the options: past them the run either cannot allocate (--steps 1e9) or is certain to
// overflow double (--lambda 1e308), so they are refused before anything is built.
constexpr double kMaxRate = 1e6;        // |lambda|, damping, theta
constexpr double kMaxTime = 1e6;        // T
constexpr double kMaxGuess = 1e100;     // |guess|
constexpr long kMaxSteps = 1L << 24;
constexpr long kMaxDim = 1L << 16;
constexpr long kMaxUnknowns = 1L << 26;  // steps * dim

// A non-finite state or residual means the iteration (or the serial reference) overflowed:
// reported as an error, never as "not converged ... max |u - u_serial| = 0".
[[noreturn]] void diverged(const char* what, double lambda, double h) {
  lpt::fail("the ", what, " overflowed to inf/NaN (lambda = ", lambda, ", h = ", h,
            "); the problem or its MGRIT iteration is unstable: reduce |lambda| * h (more --steps "
            "or a smaller --T), use --beuler, or start from a smaller --guess");
}

// The options, at their defaults.
struct MgritArgs {
  std::string problem = "dahlquist", h5, relax = "FCF", fine = "F", cycle = "V",
              storage = "all";
  double lambda = NAN, T = 1.0, guess = NAN, tol = 1e-10, rtol = 0;
  long steps = 1024, dim = 4, min_coarse = 1;
  int levels = 2, cf = 4, iters = 20, aiters = -1, threads = 1;
  bool beuler = false, skip = false, adjoint = false;
};

void declare(cli::Options& o, MgritArgs& a) {
  o.app().description("MGRIT on a test ODE (forward, optionally adjoint)");
  o.choice("--problem", a.problem, {"dahlquist", "oscillator", "cubic"},
           "u' = lambda u | damped 2x2 oscillator | u' = -theta u^3");
  o.real("--lambda", a.lambda, -kMaxRate, kMaxRate, "lambda / damping / theta of every layer",
         "-1; oscillator 0.5, cubic 1");
  o.flag("--beuler", a.beuler, "backward Euler (dahlquist only; default forward Euler)");
  o.real("--T", a.T, 0, kMaxTime, "final time, > 0; h = T / steps");
  o.integer("--steps", a.steps, 1, kMaxSteps, "fine time steps");
  o.integer("--dim", a.dim, 1, kMaxDim, "unknowns of the cubic problem");
  o.real("--guess", a.guess, -kMaxGuess, kMaxGuess, "initial guess u(t > 0) = X", "u0");
  o.integer("--levels", a.levels, 1, 64, "max levels (1 = sequential stepping)");
  o.integer("--cfactor", a.cf, 2, kMaxSteps, "coarsening factor, every level");
  o.integer("--min-coarse", a.min_coarse, 1, kMaxSteps, "no level coarser than N steps");
  o.choice("--relax", a.relax, {"F", "FCF"}, "coarse-level relaxation", true);
  o.choice("--fine-relax", a.fine, {"F", "FCF"}, "finest-level relaxation", true);
  o.choice("--cycle", a.cycle, {"V", "F"}, "cycle", true);
  o.flag("--skip", a.skip, "skip the work of the first down-cycle");
  o.integer("--iters", a.iters, 0, 1000000, "max iterations");
  o.real("--tol", a.tol, 0, 1e300, "absolute residual tolerance, 0 = off");
  o.real("--rtol", a.rtol, 0, 1e300, "relative residual tolerance, 0 = off");
  o.choice("--storage", a.storage, {"all", "cpoints"}, "finest-level storage");
  o.integer("--threads", a.threads, 1, 4096, "OpenMP threads over F-intervals per rank");
  o.flag("--adjoint", a.adjoint, "also solve the adjoint of J = 1/2 |u_N|^2 (same cycle options)");
  o.integer("--adjoint-iters", a.aiters, 0, 1000000, "max adjoint iterations", "--iters");
  o.text("--h5", a.h5, "FILE", "write the per-iteration record (groups /forward, /adjoint) from "
         "rank 0");
  o.app().footer("Prints iteration, residual norm, convergence factor and wall time per "
                 "iteration, then the\nmax error against serial stepping (and serial "
                 "back-propagation with --adjoint).");
}

int run_mgrit(const MgritArgs& a) {
  const std::string& problem = a.problem;
  const std::string& h5 = a.h5;
  double lambda = a.lambda;
  const double T = a.T, guess = a.guess, tol = a.tol, rtol = a.rtol;
  const long steps = a.steps, dim = a.dim, min_coarse = a.min_coarse;
  const int levels = a.levels, cf = a.cf, iters = a.iters, aiters = a.aiters, threads = a.threads;
  const bool beuler = a.beuler, skip = a.skip, adjoint = a.adjoint;
  const Relax relax = parse_relax(a.relax), fine = parse_relax(a.fine);
  const Cycle cycle = parse_cycle(a.cycle);
  const Storage storage = a.storage == "all" ? Storage::All : Storage::CPoints;
  const OdeKind kind = parse_ode(problem);
  lpt::require(T > 0, "option --T must be > 0, got ", T);
  lpt::require(steps * dim <= kMaxUnknowns, "--steps ", steps, " x --dim ", dim, " = ",
               steps * dim, " unknowns exceeds ", kMaxUnknowns, "; lower --steps or --dim");
  if (std::isnan(lambda))
    lambda = kind == OdeKind::Dahlquist ? -1.0 : kind == OdeKind::Oscillator ? 0.5 : 1.0;
  lpt::require(steps >= 1, "--steps must be >= 1, got ", steps);
  OdeProblem p(kind, steps, T, lambda, int(dim), beuler);
  if (!std::isnan(guess)) p.set_guess_value(guess);

  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Solver s(p, steps);
  s.set_step_size(p.h());
  s.set_threads(threads);
  for (CycleOptions* o : {&s.forward_options(), &s.adjoint_options()}) {
    o->set_max_levels(levels);
    o->set_cfactor(cf);
    o->set_min_coarse(min_coarse);
    o->set_relax(relax);
    o->set_fine_relax(fine);
    o->set_cycle(cycle);
    o->set_skip(skip);
    o->set_abs_tol(tol);
    o->set_rel_tol(rtol);
    o->set_max_iter(iters);
    o->set_storage(storage);
  }
  if (aiters >= 0) s.adjoint_options().set_max_iter(aiters);
  TablePrinter table(rank == 0);
  s.add_monitor(&table);
  if (rank == 0) {
    std::printf("lpt mgrit: %s, %ld steps, h = %g, %d rank(s) x %d thread(s)\n", problem.c_str(),
                steps, p.h(), size, threads);
    const Grid& g = s.forward_grid();
    std::printf("  levels:");
    for (int l = 0; l < g.levels(); ++l) std::printf(" %ld", g.level(l).n);
    std::printf(" steps; cfactor %d, %s-cycle, relax %s (finest %s)%s\n", cf, to_string(cycle),
                to_string(relax), to_string(fine), skip ? ", skip" : "");
  }
  const auto fs = s.solve(*p.make(p.u0().data()));
  if (!std::isfinite(fs.final_residual)) diverged("forward MGRIT residual", lambda, p.h());

  // Error against serial stepping, over the points stored on each rank.
  const auto ref = p.serial_forward();
  // std::max drops a NaN difference, so a non-finite state is counted apart (and agreed on by
  // every rank) rather than folded into the maximum.
  double err = 0, bad = 0;
  for (long n = s.first_point(); n < s.end_point(); ++n)
    if (const Vector* v = s.state(n))
      for (std::size_t i = 0; i < ref[n].size(); ++i) {
        const double d = std::fabs(flat<double>(*v).v[i] - ref[n][i]);
        if (!std::isfinite(d)) bad = 1;
        err = std::max(err, d);
      }
  MPI_Allreduce(MPI_IN_PLACE, &err, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (bad > 0) diverged("forward solution (MGRIT or serial)", lambda, p.h());
  if (rank == 0) std::printf("  max |u - u_serial| = %.3e\n", err);
  if (!h5.empty() && rank == 0) write_history_h5(h5, "forward", fs, true);

  if (adjoint) {
    const auto as = s.solve_adjoint(s.final_state());
    OdeProblem::Traj lam;
    std::vector<double> dref;
    p.serial_adjoint(ref, &lam, &dref);
    std::vector<double> d = p.dtheta();
    MPI_Allreduce(MPI_IN_PLACE, d.data(), int(d.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (!std::isfinite(as.final_residual)) diverged("adjoint MGRIT residual", lambda, p.h());
    double gerr = 0;
    for (long n = 0; n < steps; ++n) {
      const double e = std::fabs(d[n] - dref[n]);
      if (!std::isfinite(e)) diverged("adjoint gradient", lambda, p.h());
      gerr = std::max(gerr, e);
    }
    if (rank == 0) std::printf("  max |dtheta - dtheta_serial| = %.3e\n", gerr);
    if (!h5.empty() && rank == 0) write_history_h5(h5, "adjoint", as, false);
  }
  if (!h5.empty() && rank == 0) std::printf("  wrote %s\n", h5.c_str());
  return 0;
}

}  // namespace

LPT_COMMAND("mgrit", "MGRIT on test ODEs (Dahlquist, oscillator, cubic): forward and adjoint",
            [](lpt::cli::Options& o) -> lpt::CommandRun {
              auto a = std::make_shared<MgritArgs>();
              declare(o, *a);
              return [a] { return run_mgrit(*a); };
            });
