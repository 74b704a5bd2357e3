// `lpt mgrit`: the MGRIT solver on its test ODEs, forward and (optionally) adjoint, with an
// XBraid-like per-iteration table and an optional HDF5 record.
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "experiments/command.hpp"
#include "train/config_cli.hpp"
#include "solver/history_h5.hpp"
#include "solver/ode_problems.hpp"
#include "solver/solver.hpp"
#include "util/error.hpp"

namespace {

using namespace lpt::mgrit;

const char* kUsage = R"(lpt mgrit [options]: MGRIT on a test ODE (forward, optionally adjoint)
  --problem P       dahlquist (u' = lambda u) | oscillator (damped, 2x2) | cubic (u' = -theta u^3)
  --lambda X        lambda / damping / theta of every layer (default -1; oscillator 0.5, cubic 1)
  --beuler          backward Euler (dahlquist only; default forward Euler)
  --T X             final time (default 1); h = T / steps
  --steps N         fine time steps (default 1024)
  --dim D           unknowns of the cubic problem (default 4)
  --guess X         initial guess u(t > 0) = X (default: u0)
  --levels L        max levels (default 2; 1 = sequential stepping)
  --cfactor M       coarsening factor, every level (default 4)
  --min-coarse K    no level coarser than K steps (default 1)
  --relax R         coarse-level relaxation F | FCF (default FCF)
  --fine-relax R    finest-level relaxation F | FCF (default F)
  --cycle C         V | F (default V)
  --skip            skip the work of the first down-cycle
  --iters K         max iterations (default 20)
  --tol X           absolute residual tolerance, 0 = off (default 1e-10)
  --rtol X          relative residual tolerance, 0 = off (default 0)
  --storage S       all | cpoints: finest-level storage (default all)
  --threads T       OpenMP threads over F-intervals per rank (default 1)
  --adjoint         also solve the adjoint of J = 1/2 |u_N|^2 (same cycle options)
  --adjoint-iters K max adjoint iterations (default: --iters)
  --h5 FILE         write the per-iteration record (groups /forward, /adjoint) from rank 0
Prints iteration, residual norm, convergence factor and wall time per iteration, then the
max error against serial stepping (and serial back-propagation with --adjoint).)";

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

struct Args {
  std::vector<std::string> a;
  std::size_t i = 0;
  std::string value(const std::string& opt) {
    lpt::require(i + 1 < a.size(), "option ", opt, " needs a value; see lpt mgrit --help");
    return a[++i];
  }
};

double to_double(const std::string& opt, const std::string& s, double lo, double hi) {
  return lpt::cli_number(opt, s, lo, hi);
}
long to_long(const std::string& opt, const std::string& s, long lo, long hi) {
  return long(lpt::cli_integer(opt, s, lo, hi));
}

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

int run_mgrit(const std::vector<std::string>& argv) {
  std::string problem = "dahlquist", h5;
  double lambda = NAN, T = 1.0, guess = NAN, tol = 1e-10, rtol = 0;
  long steps = 1024, dim = 4, min_coarse = 1;
  int levels = 2, cf = 4, iters = 20, aiters = -1, threads = 1;
  bool beuler = false, skip = false, adjoint = false;
  Relax relax = Relax::FCF, fine = Relax::F;
  Cycle cycle = Cycle::V;
  Storage storage = Storage::All;
  Args A{argv};
  for (; A.i < argv.size(); ++A.i) {
    const std::string o = argv[A.i];
    if (o == "--problem") problem = A.value(o);
    else if (o == "--lambda") lambda = to_double(o, A.value(o), -kMaxRate, kMaxRate);
    else if (o == "--beuler") beuler = true;
    else if (o == "--T") T = to_double(o, A.value(o), 0, kMaxTime);
    else if (o == "--steps") steps = to_long(o, A.value(o), 1, kMaxSteps);
    else if (o == "--dim") dim = to_long(o, A.value(o), 1, kMaxDim);
    else if (o == "--guess") guess = to_double(o, A.value(o), -kMaxGuess, kMaxGuess);
    else if (o == "--levels") levels = int(to_long(o, A.value(o), 1, 64));
    else if (o == "--cfactor") cf = int(to_long(o, A.value(o), 2, kMaxSteps));
    else if (o == "--min-coarse") min_coarse = to_long(o, A.value(o), 1, kMaxSteps);
    else if (o == "--relax") relax = parse_relax(A.value(o));
    else if (o == "--fine-relax") fine = parse_relax(A.value(o));
    else if (o == "--cycle") cycle = parse_cycle(A.value(o));
    else if (o == "--skip") skip = true;
    else if (o == "--iters") iters = int(to_long(o, A.value(o), 0, 1000000));
    else if (o == "--adjoint-iters") aiters = int(to_long(o, A.value(o), 0, 1000000));
    else if (o == "--tol") tol = to_double(o, A.value(o), 0, 1e300);
    else if (o == "--rtol") rtol = to_double(o, A.value(o), 0, 1e300);
    else if (o == "--threads") threads = int(to_long(o, A.value(o), 1, 4096));
    else if (o == "--adjoint") adjoint = true;
    else if (o == "--h5") h5 = A.value(o);
    else if (o == "--storage") {
      const std::string s = A.value(o);
      lpt::require(s == "all" || s == "cpoints", "--storage expects all or cpoints, got '", s, "'");
      storage = s == "all" ? Storage::All : Storage::CPoints;
    } else lpt::fail("unknown option '", o, "'; see lpt mgrit --help");
  }
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
            kUsage, run_mgrit);
