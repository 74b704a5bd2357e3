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

// The problem the options name, its lambda defaulted per problem (in `lambda`).
OdeProblem make_problem(const MgritArgs& a, double& lambda) {
  const OdeKind kind = parse_ode(a.problem);
  lpt::require(a.T > 0, "option --T must be > 0, got ", a.T);
  lpt::require(a.steps * a.dim <= kMaxUnknowns, "--steps ", a.steps, " x --dim ", a.dim, " = ",
               a.steps * a.dim, " unknowns exceeds ", kMaxUnknowns,
               "; lower --steps or --dim");
  lambda = a.lambda;
  if (std::isnan(lambda))
    lambda = kind == OdeKind::dahlquist ? -1.0 : kind == OdeKind::oscillator ? 0.5 : 1.0;
  lpt::require(a.steps >= 1, "--steps must be >= 1, got ", a.steps);
  OdeProblem p(kind, a.steps, a.T, lambda, int(a.dim), a.beuler);
  if (!std::isnan(a.guess)) p.set_guess_value(a.guess);
  return p;
}

// Both solves get the same cycle; the adjoint may stop after another iteration count.
void configure(Solver& s, const MgritArgs& a) {
  for (CycleOptions* o : {&s.forward_options(), &s.adjoint_options()}) {
    o->set_max_levels(a.levels);
    o->set_cfactor(a.cf);
    o->set_min_coarse(a.min_coarse);
    o->set_relax(parse_relax(a.relax));
    o->set_fine_relax(parse_relax(a.fine));
    o->set_cycle(parse_cycle(a.cycle));
    o->set_skip(a.skip);
    o->set_abs_tol(a.tol);
    o->set_rel_tol(a.rtol);
    o->set_max_iter(a.iters);
    o->set_storage(a.storage == "all" ? Storage::all : Storage::c_points);
  }
  if (a.aiters >= 0) s.adjoint_options().set_max_iter(a.aiters);
}

void print_header(Solver& s, const MgritArgs& a, const OdeProblem& p, int size) {
  std::printf("lpt mgrit: %s, %ld steps, h = %g, %d rank(s) x %d thread(s)\n", a.problem.c_str(),
              a.steps, p.h(), size, a.threads);
  const Grid& g = s.forward_grid();
  std::printf("  levels:");
  for (int l = 0; l < g.levels(); ++l) std::printf(" %ld", g.level(l).n);
  std::printf(" steps; cfactor %d, %s-cycle, relax %s (finest %s)%s\n", a.cf,
              to_string(parse_cycle(a.cycle)), to_string(parse_relax(a.relax)),
              to_string(parse_relax(a.fine)), a.skip ? ", skip" : "");
}

// max |u - u_serial| over every rank's stored points. std::max drops a NaN difference, so a
// non-finite state is counted apart (and agreed on by every rank) rather than folded into the
// maximum.
double forward_error(Solver& s, const OdeProblem::Traj& ref, double lambda, double h) {
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
  if (bad > 0) diverged("forward solution (MGRIT or serial)", lambda, h);
  return err;
}

// The adjoint solve of J = 1/2 |u_N|^2 and max |dtheta - dtheta_serial|.
double adjoint_error(Solver& s, OdeProblem& p, const OdeProblem::Traj& ref, double lambda,
                     const SolveStats** stats) {
  *stats = &s.solve_adjoint(s.final_state());
  OdeProblem::Traj lam;
  std::vector<double> dref;
  p.serial_adjoint(ref, &lam, &dref);
  std::vector<double> d = p.dtheta();
  MPI_Allreduce(MPI_IN_PLACE, d.data(), int(d.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  if (!std::isfinite((*stats)->final_residual)) diverged("adjoint MGRIT residual", lambda, p.h());
  double gerr = 0;
  for (std::size_t n = 0; n < dref.size(); ++n) {
    const double e = std::fabs(d[n] - dref[n]);
    if (!std::isfinite(e)) diverged("adjoint gradient", lambda, p.h());
    gerr = std::max(gerr, e);
  }
  return gerr;
}

int run_mgrit(const MgritArgs& a) {
  double lambda = 0;
  OdeProblem p = make_problem(a, lambda);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Solver s(p, a.steps);
  s.set_step_size(p.h());
  s.set_threads(a.threads);
  configure(s, a);
  TablePrinter table(rank == 0);
  s.add_monitor(&table);
  if (rank == 0) print_header(s, a, p, size);
  const auto fs = s.solve(*p.make(p.u0().data()));
  if (!std::isfinite(fs.final_residual)) diverged("forward MGRIT residual", lambda, p.h());

  const auto ref = p.serial_forward();
  const double err = forward_error(s, ref, lambda, p.h());
  const bool record = !a.h5.empty() && rank == 0;
  if (rank == 0) std::printf("  max |u - u_serial| = %.3e\n", err);
  if (record) write_history_h5(a.h5, "forward", fs, true);
  if (a.adjoint) {
    const SolveStats* as = nullptr;
    const double gerr = adjoint_error(s, p, ref, lambda, &as);
    if (rank == 0) std::printf("  max |dtheta - dtheta_serial| = %.3e\n", gerr);
    if (record) write_history_h5(a.h5, "adjoint", *as, false);
  }
  if (record) std::printf("  wrote %s\n", a.h5.c_str());
  return 0;
}

}  // namespace

LPT_COMMAND("mgrit", "MGRIT on test ODEs (Dahlquist, oscillator, cubic): forward and adjoint",
            [](lpt::cli::Options& o) -> lpt::CommandRun {
              auto a = std::make_shared<MgritArgs>();
              declare(o, *a);
              return [a] { return run_mgrit(*a); };
            });
