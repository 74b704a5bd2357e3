// `lpt calibrate`: measured per-layer costs for the performance model.
#include <mpi.h>
#include <omp.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "experiments/command.hpp"
#include "train/config.hpp"
#include "train/calibrate.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

struct CalibrateArgs {
  cli::ConfigOptions config;
  std::string out = "calibration.json";
  int reps = 20;
  std::string profile_out, profile_base = "this_machine";
};

void declare(cli::Options& o, CalibrateArgs& a) {
  o.app().description(
      "Measures on this machine, at the run's shape (train.batch, model.seq_len, d_model, heads, "
      "d_ff):\nthe median time of one layer's forward step, its state VJP and its parameter "
      "gradient, the same\nlayer as the serial step meets it (tapes in memory, not cache), AdamW "
      "per parameter, and one\nvector update over a state; on two or more ranks also the MPI "
      "latency (8-byte half round trip)\nand bandwidth (state-sized messages) between ranks 0 "
      "and 1. With two ranks:\n  mpirun -np 2 lpt calibrate ...");
  cli::add_config_options(o, a.config);
  o.text("--out", a.out, "FILE", "per-layer times as JSON for `lpt predict --measured FILE`");
  o.integer("--reps", a.reps, 1, 1000000, "repetitions per measurement, after one warm-up");
  o.text("--profile-out", a.profile_out, "FILE",
         "also write a hardware profile of this machine for `lpt predict --hardware FILE`");
  o.text("--profile-base", a.profile_base, "NAME|PATH",
         "the profile whose values stand where one node cannot measure (the inter-node link)");
  o.app().footer(
      "The profile (--profile-out) holds the fp32 GEMM rate (512^3 GEMM), memory bandwidth\n"
      "(out-of-cache axpy), element-wise rate (in-cache axpy), per-operation overhead (1x1x1 "
      "GEMM),\nmemory, ranks per node, and with 2 ranks the MPI latency and bandwidth; what one "
      "node cannot\nmeasure comes from --profile-base, and the profile's sources say so.\n"
      "Threads: OMP_NUM_THREADS or train.threads.");
}

int run_calibrate(const CalibrateArgs& a) {
  const std::string& out = a.out;
  const std::string& profile_out = a.profile_out;
  const int reps = a.reps;
  const RunConfig cfg = config_from(a.config.file, a.config.sets);
  // Load the base first: a bad name fails before minutes of measuring.
  const perf::HardwareProfile base =
      profile_out.empty() ? perf::HardwareProfile{}
                          : perf::load_profile(perf::resolve_profile_path(a.profile_base));
  if (cfg.train.threads > 0) omp_set_num_threads(cfg.train.threads);
  const Calibration c = calibrate(cfg, reps);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) return 0;
  std::printf("shape: batch %d, seq %d, d %d, heads %d, d_ff %d; %d thread(s), median of %d\n",
              c.batch, c.seq, c.d, c.heads, c.d_ff, c.threads, reps);
  std::printf("  layer forward (no tape)     %.4e s\n", c.forward_s);
  std::printf("  layer state VJP from tape   %.4e s\n", c.vjp_state_s);
  std::printf("  adjoint step (replays fwd)  %.4e s\n", c.adjoint_step_s);
  std::printf("  layer parameter gradient    %.4e s (on top of the VJP)\n", c.param_grad_s);
  std::printf("  serial layer, tape in memory: forward %.4e s, VJP + gradient %.4e s\n",
              c.serial_forward_s, c.serial_backward_s);
  std::printf("  AdamW per parameter         %.4e s\n", c.optimizer_per_param_s);
  std::printf("  axpy over one state         %.4e s (%zu floats)\n", c.vector_op_s,
              std::size_t(c.batch) * c.seq * c.d);
  if (c.latency_s >= 0)
    std::printf("  MPI latency %.3e s, bandwidth %.3e B/s (ranks 0-1)\n", c.latency_s,
                c.bandwidth_Bps);
  std::printf("  GEMM %dx%dx%d fp32          %.3e FLOP/s\n", c.gemm_n, c.gemm_n, c.gemm_n,
              c.gemm_flops);
  std::printf("  memory bandwidth (axpy)     %.3e B/s\n", c.memory_bandwidth);
  std::printf("  element-wise (in cache)     %.3e FLOP/s\n", c.vector_flops);
  std::printf("  per-operation overhead      %.3e s\n", c.overhead_s);
  if (!profile_out.empty()) {
    perf::save_profile(calibrated_profile(c, base), profile_out);
    std::printf("wrote %s (use: lpt predict --hardware %s ...)\n", profile_out.c_str(),
                profile_out.c_str());
  }
  std::ofstream f(out);
  require(f.good(), "cannot write '", out, "'; check the directory exists and is writable");
  f << c.measured_times().dump(2) << "\n";
  std::printf("wrote %s (use: lpt predict --measured %s --batch %d --seq %d --d %d --heads %d "
              "--dff %d ...)\n", out.c_str(), out.c_str(), c.batch, c.seq, c.d, c.heads, c.d_ff);
  return 0;
}

}  // namespace

LPT_COMMAND("calibrate", "measure per-layer step/VJP/gradient times (and MPI) for lpt predict",
            [](cli::Options& o) -> CommandRun {
              auto a = std::make_shared<CalibrateArgs>();
              declare(o, *a);
              return [a] { return run_calibrate(*a); };
            });

}  // namespace lpt
