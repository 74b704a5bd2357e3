#include "experiments/lib/calibrate.hpp"

#include <mpi.h>
#include <omp.h>

#include <algorithm>
#include <random>
#include <vector>

#include "model/block_layer.hpp"
#include "model/ode_step_transformer.hpp"
#include "model/params.hpp"
#include "util/error.hpp"
#include "util/timer.hpp"

namespace lpt {
namespace {

template <class F>
double median_time(int reps, F&& f) {
  f();  // warm-up: first-touch of buffers, workspace sizing
  std::vector<double> t(reps);
  for (int r = 0; r < reps; ++r) {
    Timer timer;
    f();
    t[r] = timer.seconds();
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[reps / 2];
}

// Half the round-trip time of `bytes` between ranks 0 and 1 (median over reps).
double ping_pong(std::size_t bytes, int reps) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<char> buf(std::max<std::size_t>(bytes, 1));
  const int n = static_cast<int>(bytes);
  auto once = [&] {
    if (rank == 0) {
      MPI_Send(buf.data(), n, MPI_BYTE, 1, 7, MPI_COMM_WORLD);
      MPI_Recv(buf.data(), n, MPI_BYTE, 1, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(buf.data(), n, MPI_BYTE, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf.data(), n, MPI_BYTE, 0, 7, MPI_COMM_WORLD);
    }
  };
  const double t = median_time(reps, once) / 2;
  double t0 = t;
  MPI_Bcast(&t0, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);  // rank 0's clock is the measurement
  return t0;
}

}  // namespace

nlohmann::json Calibration::measured_times() const {
  return {{"batch", batch},         {"seq", seq},
          {"d", d},                 {"heads", heads},
          {"d_ff", d_ff},           {"forward_s", forward_s},
          {"vjp_state_s", vjp_state_s}, {"param_grad_s", param_grad_s}};
}

Calibration calibrate(const RunConfig& cfg, int reps) {
  require(reps >= 3, "calibrate: --reps must be >= 3, got ", reps);
  const ModelSection& m = cfg.model;
  Calibration c;
  c.batch = cfg.train.batch;
  c.d = m.d_model;
  c.heads = m.heads;
  c.d_ff = m.d_ff;
  switch (m.family) {
    case Family::vit: c.seq = 1 + (m.image[1] / m.patch) * (m.image[2] / m.patch); break;
    case Family::mt: c.seq = m.src_len; break;
    default: c.seq = m.seq_len;
  }
  c.threads = omp_get_max_threads();

  // One encoder/GPT layer with random weights: the time of a layer does not depend on the values.
  ParamStore<float> params;
  const LayerDims dims{m.d_model, m.heads, m.d_ff};
  register_layer_params(params, "layers.0.", dims, /*decoder=*/false);
  params.finalize();
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.02f);
  for (std::size_t i = 0; i < params.size(); ++i) params.values()[i] = nd(rng);
  TransformerStepsConfig sc;
  sc.dims = dims;
  sc.layers = 1;
  sc.causal = m.family == Family::gpt;
  TransformerSteps<float> steps(params, sc);
  StepBatch b;
  b.B = c.batch;
  b.T = c.seq;
  b.train = false;
  steps.set_batch(b);

  const std::size_t n = steps.state_size();
  std::vector<float> u(n), out(n), lam(n), lam_out(n), tape(steps.tape_size(0));
  for (auto& x : u) x = nd(rng) * 50;
  for (auto& x : lam) x = nd(rng);
  const float h = static_cast<float>(m.h);
  float* dtheta = params.grads() + steps.param_offset(0);
  c.forward_s = median_time(reps, [&] { steps.forward(0, h, u.data(), out.data(), tape.data()); });
  c.vjp_state_s = median_time(reps, [&] {
    steps.backward(0, h, u.data(), tape.data(), lam.data(), lam_out.data(), nullptr);
  });
  const double both = median_time(reps, [&] {
    steps.backward(0, h, u.data(), tape.data(), lam.data(), lam_out.data(), dtheta);
  });
  c.param_grad_s = std::max(both - c.vjp_state_s, 1e-9);
  c.axpy_s = median_time(reps, [&] {
    for (std::size_t i = 0; i < n; ++i) out[i] = 0.5f * u[i] + out[i];
  });

  int size = 1, initialized = 0;
  MPI_Initialized(&initialized);  // used as a library (tests) without MPI: one rank
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size >= 2) {
    c.latency_s = ping_pong(8, reps);
    const double t = ping_pong(n * sizeof(float), reps);
    c.bandwidth_Bps = double(n * sizeof(float)) / std::max(t - c.latency_s, 1e-12);
  }
  return c;
}

}  // namespace lpt
