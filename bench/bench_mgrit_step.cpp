// Measured wall time of one layer-parallel GPT training step (opening, MGRIT forward solve,
// closing + loss, MGRIT adjoint solve with parameter gradients, opening backward, AdamW on the
// rank's own parameters) and of the serial TrainStep, at a fixed MGRIT setting: the measurements
// that bench/validate_perfmodel.sh sets against `lpt predict` (docs/perfmodel.md §6).
//
//   mpirun -np P bench_mgrit_step --layers N --levels L --cfactor M --fwd-iters K --bwd-iters K
//          [--d 64 --heads 4 --dff 256 --seq 32 --batch 8 --vocab 256 --reps 7 --serial]
//          [--json FILE]   (appends one JSON line per run, written by rank 0)
//
// Phases are separated by barriers and timed on rank 0 from barrier to barrier, so each phase's
// time is that of its slowest rank: the bulk-synchronous quantity the model predicts. Medians over
// --reps repetitions after one warm-up. Tolerances are 0, so every solve runs exactly K cycles.
#include <mpi.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adaptive/layer_parallel_step.hpp"
#include "model/families/gpt.hpp"
#include "optim/optim.hpp"
#include "train/train_step.hpp"
#include "solver/flat_app.hpp"
#include "solver/solver.hpp"
#include "util/error.hpp"

namespace {

using lpt::mgrit::FlatApp;
using lpt::mgrit::Solver;
using lpt::mgrit::StepInfo;

struct Options {
  int layers = 32, levels = 2, cfactor = 4, fwd_iters = 2, bwd_iters = 1;
  int d = 64, heads = 4, dff = 256, seq = 32, batch = 8, vocab = 256, reps = 7;
  int skip = 0;  // as solver.mgrit.*.skip, the trainer's default
  bool serial = false;
  std::string json;
};

const char* kUsage =
    "usage: [mpirun -np P] bench_mgrit_step --layers N --levels L --cfactor M --fwd-iters K\n"
    "       --bwd-iters K [--d D --heads H --dff F --seq T --batch B --vocab V --reps R]\n"
    "       [--skip 0|1] [--serial] [--json FILE]\n"
    "Each solve's cycle is the trainer's (solve_options of adaptive/layer_parallel_step.hpp):\n"
    "F-relaxation on the finest level, FCF coarser, --skip as solver.mgrit.*.skip (default 0).\n"
    "Times one layer-parallel GPT training step phase by phase (median of R after a warm-up);\n"
    "--serial also times the serial TrainStep (one rank only).\n";

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (a == "--serial") {
      o.serial = true;
      continue;
    }
    lpt::require(i + 1 < argc, "bench_mgrit_step: ", a, " needs a value\n", kUsage);
    const std::string v = argv[++i];
    if (a == "--json") {
      o.json = v;
      continue;
    }
    int x = 0;
    try {
      x = std::stoi(v);
    } catch (...) {
      lpt::fail("bench_mgrit_step: ", a, " expects an integer, got '", v, "'");
    }
    if (a == "--layers") o.layers = x;
    else if (a == "--levels") o.levels = x;
    else if (a == "--cfactor") o.cfactor = x;
    else if (a == "--fwd-iters") o.fwd_iters = x;
    else if (a == "--bwd-iters") o.bwd_iters = x;
    else if (a == "--d") o.d = x;
    else if (a == "--heads") o.heads = x;
    else if (a == "--dff") o.dff = x;
    else if (a == "--seq") o.seq = x;
    else if (a == "--batch") o.batch = x;
    else if (a == "--vocab") o.vocab = x;
    else if (a == "--reps") o.reps = x;
    else if (a == "--skip") o.skip = x;
    else lpt::fail("bench_mgrit_step: unknown option ", a, "\n", kUsage);
  }
  lpt::require(o.reps >= 1, "bench_mgrit_step: --reps must be >= 1");
  lpt::require(o.skip == 0 || o.skip == 1, "bench_mgrit_step: --skip must be 0 or 1");
  return o;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// One synchronised clock: every phase starts after a barrier, so rank 0's differences are the
// slowest rank's phase times.
double sync_now() {
  MPI_Barrier(MPI_COMM_WORLD);
  return MPI_Wtime();
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  lpt::require(!o.serial || size == 1, "bench_mgrit_step: --serial runs on one rank only");

  lpt::ModelConfig cfg;
  cfg.d_model = o.d, cfg.heads = o.heads, cfg.d_ff = o.dff, cfg.layers = o.layers;
  cfg.vocab = o.vocab, cfg.max_len = o.seq;
  lpt::GptModel<float> m(cfg);
  m.init(1);
  lpt::GptBatch b;
  b.shape(o.batch, o.seq);
  std::mt19937 rng(2);
  for (auto& t : b.tokens) t = int(rng() % unsigned(o.vocab));
  for (std::size_t i = 0; i < b.targets.size(); ++i)
    b.targets[i] = (i + 1) % std::size_t(o.seq) == 0 ? lpt::kIgnoreIndex : b.tokens[i + 1];
  m.set_batch(b);

  lpt::OdeStep<float>& steps = m.steps();
  const std::size_t n = steps.state_size();
  float* grads = m.params().grads();
  FlatApp<float> app(
      n, [&](const StepInfo& s, const float* u, float* out) {
        steps.forward(int(s.layer), float(s.h), u, out, nullptr);
      },
      [&](const StepInfo& s, const float* u, const float* lam_next, float* lam_out, bool g) {
        steps.backward(int(s.layer), float(s.h), u, nullptr, lam_next, lam_out,
                       g ? grads + steps.param_offset(int(s.layer)) : nullptr);
      });
  Solver solver(app, o.layers);
  solver.set_step_size(m.h(0));
  solver.set_threads(1);
  // The trainer's conversion from the run config's solver.mgrit.* section, so that what is timed
  // is the cycle training runs and `lpt predict --config` prices (issue 11 item 1).
  auto cycle = [&](int iters) {
    return lpt::solve_options(
        lpt::MgritConfig{o.levels, o.cfactor, lpt::Relax::F, iters, o.skip != 0});
  };
  solver.forward_options() = cycle(o.fwd_iters);
  solver.adjoint_options() = cycle(o.bwd_iters);
  lpt::require(solver.forward_grid().levels() == o.levels, "bench_mgrit_step: ", o.layers,
               " layers give only ", solver.forward_grid().levels(), " levels with cfactor ",
               o.cfactor, "; use more layers or fewer levels");

  // This rank's parameters: the layers it evaluates, and on the end ranks the opening/closing
  // parameters (the tied embedding lives on both, as the model assumes). Those are not one
  // contiguous range of the store (embeddings before the layers, final LayerNorm after), so the
  // end ranks step arrays of their size instead: the same work for AdamW, which is what is timed.
  const long first = solver.first_point(), last = std::min<long>(solver.end_point(), o.layers);
  const std::size_t lo = steps.param_offset(int(first));
  const std::size_t hi = steps.param_offset(int(last - 1)) + steps.param_count(int(last - 1));
  std::size_t outside = 0;
  for (int l = 0; l < o.layers; ++l) outside += steps.param_count(l);
  outside = m.params().size() - outside;  // everything that is not a layer
  std::vector<float> ends_values(outside), ends_grads(outside);
  const bool is_end = rank == 0 || rank == size - 1;
  lpt::AdamW<float> opt_layers(hi - lo), opt_ends(outside);

  std::vector<float> u0(n), lamN(n);
  struct Times {
    std::vector<double> open, fwd, close, adj, open_bwd, opt, total;
  } t;
  for (int r = 0; r <= o.reps; ++r) {
    m.params().zero_grads();
    const double t0 = sync_now();
    if (rank == 0) m.open_forward(u0.data());
    const double t1 = sync_now();
    solver.solve(*app.make(u0.data()));
    const double t2 = sync_now();
    const bool owner_N = solver.final_state() != nullptr;
    if (owner_N) m.close(lpt::mgrit::flat<float>(*solver.final_state()).v.data(), lamN.data());
    const double t3 = sync_now();
    solver.solve_adjoint(owner_N ? app.make(lamN.data()).get() : nullptr);
    const double t4 = sync_now();
    if (rank == 0) m.open_backward(lpt::mgrit::flat<float>(*solver.gradient_u0()).v.data());
    const double t5 = sync_now();
    opt_layers.step(m.params().values() + lo, grads + lo);
    if (is_end) opt_ends.step(ends_values.data(), ends_grads.data());
    const double t6 = sync_now();
    if (r == 0) continue;  // warm-up
    t.open.push_back(t1 - t0);
    t.fwd.push_back(t2 - t1);
    t.close.push_back(t3 - t2);
    t.adj.push_back(t4 - t3);
    t.open_bwd.push_back(t5 - t4);
    t.opt.push_back(t6 - t5);
    t.total.push_back(t6 - t0);
  }

  nlohmann::json j = {{"layers", o.layers},       {"levels", o.levels},
                      {"cfactor", o.cfactor},     {"fwd_iters", o.fwd_iters},
                      {"bwd_iters", o.bwd_iters}, {"skip", o.skip}, {"ranks", size},
                      {"threads", omp_get_max_threads()},
                      {"d", o.d}, {"heads", o.heads}, {"dff", o.dff}, {"seq", o.seq},
                      {"batch", o.batch}, {"vocab", o.vocab}, {"reps", o.reps},
                      {"open_s", median(t.open)},   {"forward_s", median(t.fwd)},
                      {"close_s", median(t.close)}, {"adjoint_s", median(t.adj)},
                      {"open_bwd_s", median(t.open_bwd)}, {"optimizer_s", median(t.opt)},
                      {"lp_step_s", median(t.total)},
                      {"fwd_evals", solver.forward_stats().evals_all_ranks},
                      {"adj_evals", solver.adjoint_stats().evals_all_ranks}};
  if (o.serial) {
    lpt::AdamW<float> opt(m.params().size());
    opt.set_lr(1e-4);
    lpt::TrainStep<float> ts(m, &opt);
    std::vector<double> s, sf, sb, so;
    for (int r = 0; r <= o.reps; ++r) {
      const double a = MPI_Wtime();
      ts.step();
      if (r == 0) continue;
      s.push_back(MPI_Wtime() - a);
      sf.push_back(ts.times().forward);
      sb.push_back(ts.times().backward);
      so.push_back(ts.times().optimizer);
    }
    j["serial_step_s"] = median(s);
    j["serial_forward_s"] = median(sf);
    j["serial_backward_s"] = median(sb);
    j["serial_optimizer_s"] = median(so);
  }
  if (rank == 0) {
    std::printf("%s\n", j.dump().c_str());
    if (!o.json.empty()) {
      std::ofstream f(o.json, std::ios::app);
      lpt::require(f.good(), "cannot append to '", o.json, "'");
      f << j.dump() << "\n";
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 0;
  try {
    rc = run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_mgrit_step: %s\n", e.what());
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
