#include "train/calibrate.hpp"

#include <mpi.h>
#include <omp.h>

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "model/blocks/layer.hpp"
#include "optim/optim.hpp"
#include "model/ops/gemm.hpp"
#include "model/blocks/ode_step_transformer.hpp"
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

// y = a·x + y over n floats, split over the OpenMP threads as the model's kernels are.
void axpy(std::vector<float>& y, const std::vector<float>& x) {
  const long n = long(y.size());
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) y[i] = 0.5f * x[i] + y[i];
}

void measure_machine(Calibration& c, int reps) {
  // Sustained GEMM rate: a square product large enough to leave the call overhead behind.
  c.gemm_n = 512;
  const int n = c.gemm_n;
  std::vector<float> a(std::size_t(n) * n, 0.5f), b(a), out(a.size());
  const double tg = median_time(std::max(3, reps / 4), [&] {
    ops::gemm(false, false, n, n, n, 1.0f, a.data(), b.data(), 0.0f, out.data());
  });
  c.gemm_flops = 2.0 * n * n * n / tg;
  // Memory bandwidth: axpy over 3 x 32 MiB, far beyond the last-level cache.
  std::vector<float> x(std::size_t(8) << 20, 1.0f), y(x.size(), 2.0f);
  c.stream_bytes = 3.0 * double(x.size()) * sizeof(float);
  c.memory_bandwidth = c.stream_bytes / median_time(std::max(3, reps / 4), [&] { axpy(y, x); });
  // Element-wise rate: each thread repeats the loop on its own 2 x 16 KiB, which stay in L1,
  // inside one parallel region (a region per pass would time the fork/join, not the loop).
  const int nt = omp_get_max_threads();
  const std::size_t chunk = 4096;
  std::vector<float> xs(chunk * nt, 1.0f), ys(chunk * nt, 2.0f);
  const double ts = median_time(reps, [&] {
#pragma omp parallel num_threads(nt)
    {
      const std::size_t off = chunk * std::size_t(omp_get_thread_num());
      float* yt = ys.data() + off;
      const float* xt = xs.data() + off;
      for (int r = 0; r < 100; ++r)
        for (std::size_t i = 0; i < chunk; ++i) yt[i] = 0.5f * xt[i] + yt[i];
    }
  });
  c.vector_flops = 2.0 * double(xs.size()) * 100 / ts;
  // Per-operation overhead: a GEMM with one element, i.e. the call, dispatch and threading.
  float one = 1.0f, res = 0.0f;
  c.overhead_s = std::max(1e-9, median_time(reps, [&] {
                                  for (int r = 0; r < 100; ++r)
                                    ops::gemm(false, false, 1, 1, 1, 1.0f, &one, &one, 0.0f, &res);
                                }) / 100);
  c.memory_bytes = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGESIZE));
}

}  // namespace

nlohmann::json Calibration::measured_times() const {
  return perf::measured_times_to_json(*this);
}

namespace {

// The shape a calibration times: the run's batch, widths and the sequence its layers see.
void set_shape(Calibration& c, const RunConfig& cfg) {
  const ModelSection& m = cfg.model;
  c.batch = cfg.train.batch;
  c.d = m.d_model;
  c.heads = m.heads;
  c.d_ff = m.d_ff;
  switch (m.family) {
    case Family::vit: c.seq = 1 + (m.image_h / m.patch) * (m.image_w / m.patch); break;
    case Family::mt: c.seq = m.src_max_len; break;
    default: c.seq = m.max_len;
  }
  c.threads = omp_get_max_threads();
}

// A deep chain meets every layer with its own weights and its own input and output states, so
// none of them is still in cache from the step before; a single layer timed in a loop finds all
// of them hot (here 0.33 ms against 0.38-0.40 ms per step in the chain). So the timings rotate
// over R layers, states and tapes spanning 64 MiB. Random weights: the time of a layer does not
// depend on the values.
class LayerChain {
 public:
  LayerChain(const ModelSection& m, const Calibration& c) : h_(static_cast<float>(m.h)) {
    const LayerDims dims{m.d_model, m.heads, m.d_ff};
    sc_.dims = dims;
    sc_.causal = m.family == Family::gpt;
    b_.B = c.batch;
    b_.T = c.seq;
    b_.train = false;
    std::size_t layer_params = 0;
    {  // sizes of one layer, to choose R
      ParamStore<float> probe;
      register_layer_params(probe, "layers.0.", dims, /*decoder=*/false);
      probe.finalize();
      sc_.layers = 1;
      TransformerSteps<float> one(probe, sc_);
      one.set_batch(b_);
      layer_params = probe.size();
      tn_ = one.tape_size(0);
      n_ = one.state_size();
    }
    R_ = int(std::max<std::size_t>(
        2, (std::size_t(64) << 20) / ((tn_ + n_ + layer_params) * sizeof(float)) + 1));
    for (int k = 0; k < R_; ++k)
      register_layer_params(params_, "layers." + std::to_string(k) + ".", dims, false);
    params_.finalize();
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.f, 0.02f);
    for (std::size_t i = 0; i < params_.size(); ++i) params_.values()[i] = nd(rng);
    sc_.layers = R_;
    steps_ = std::make_unique<TransformerSteps<float>>(params_, sc_);
    steps_->set_batch(b_);
    states_.resize(std::size_t(R_ + 1) * n_);
    tapes_.resize(std::size_t(R_) * tn_);
    lam_.resize(n_);
    lam_out_.resize(n_);
    for (auto& x : states_) x = nd(rng) * 50;
    for (auto& x : lam_) x = nd(rng);
  }
  std::size_t state_size() const { return n_; }
  const float* states() const { return states_.data(); }

  // Each call moves to the next layer of the chain and runs one step there.
  void forward(bool keep_tape) {
    rotate();
    steps_->forward(k_, h_, u(), u() + n_, keep_tape ? tape() : nullptr);
  }
  void backward(bool from_tape, bool param_grads) {
    rotate();
    steps_->backward(k_, h_, u(), from_tape ? tape() : nullptr, lam_.data(), lam_out_.data(),
                     param_grads ? params_.grads() + steps_->param_offset(k_) : nullptr);
  }
  void fill_tapes() {
    for (int i = 0; i < R_; ++i) forward(true);
  }

 private:
  void rotate() { k_ = (k_ + 1) % R_; }
  float* u() { return states_.data() + std::size_t(k_) * n_; }
  float* tape() { return tapes_.data() + std::size_t(k_) * tn_; }

  float h_;
  TransformerStepsConfig sc_;
  StepBatch b_;
  std::size_t tn_ = 0, n_ = 0;
  int R_ = 2, k_ = 0;
  ParamStore<float> params_;
  std::unique_ptr<TransformerSteps<float>> steps_;
  std::vector<float> states_, tapes_, lam_, lam_out_;
};

void measure_layer(Calibration& c, LayerChain& chain, int reps) {
  // MGRIT's steps keep no tape (the layer writes its intermediates to its own workspace, which
  // stays in cache): cheaper than writing them to a kept tape.
  c.forward_s = median_time(reps, [&] { chain.forward(false); });
  c.adjoint_step_s = median_time(reps, [&] { chain.backward(false, false); });
  // The serial step keeps every tape; at depth they come from memory, not cache.
  chain.fill_tapes();  // every tape valid for the backward
  c.serial_forward_s = median_time(reps, [&] { chain.forward(true); });
  c.vjp_state_s = median_time(reps, [&] { chain.backward(true, false); });
  c.serial_backward_s = median_time(reps, [&] { chain.backward(true, true); });
  c.param_grad_s = std::max(c.serial_backward_s - c.vjp_state_s, 1e-9);
}

void measure_update(Calibration& c, const LayerChain& chain, int reps) {
  const std::size_t np = std::size_t(1) << 22;
  std::vector<float> w(np, 0.1f), g(np, 0.01f);
  AdamW<float> opt(np);
  opt.set_lr(1e-4);
  c.optimizer_per_param_s =
      median_time(std::max(3, reps / 4), [&] { opt.step(w.data(), g.data()); }) / double(np);
  const std::size_t n = chain.state_size();
  std::vector<float> out(n);
  c.vector_op_s = median_time(reps, [&] {
    const float* u = chain.states();
    for (std::size_t i = 0; i < n; ++i) out[i] = 0.5f * u[i] + out[i];
  });
}

// Ranks per node, and with two or more ranks the latency and bandwidth of a state's message.
void measure_network(Calibration& c, std::size_t state_floats, int reps) {
  int size = 1, initialized = 0;
  MPI_Initialized(&initialized);  // used as a library (tests) without MPI: one rank
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  c.ranks_per_node = std::max(1, int(std::thread::hardware_concurrency()) / c.threads);
  if (size < 2) return;
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &c.ranks_per_node);
  MPI_Comm_free(&node);
  c.latency_s = ping_pong(8, reps);
  const double t = ping_pong(state_floats * sizeof(float), reps);
  c.bandwidth_Bps = double(state_floats * sizeof(float)) / std::max(t - c.latency_s, 1e-12);
}

}  // namespace

Calibration calibrate(const RunConfig& cfg, int reps) {
  require(reps >= 3, "calibrate: --reps must be >= 3, got ", reps);
  Calibration c;
  set_shape(c, cfg);
  LayerChain chain(cfg.model, c);
  measure_layer(c, chain, reps);
  measure_update(c, chain, reps);
  measure_machine(c, reps);
  measure_network(c, chain.state_size(), reps);
  return c;
}

}  // namespace lpt

namespace lpt {

perf::HardwareProfile calibrated_profile(const Calibration& c, const perf::HardwareProfile& base) {
  require(c.gemm_flops > 0 && c.memory_bandwidth > 0,
          "calibrated_profile: the calibration has no machine figures; run calibrate() first");
  auto fmt = [](const char* what, double v, const char* unit) {
    std::ostringstream os;
    os.precision(3);
    os << "measured by lpt calibrate at " << what << ": " << v << " " << unit;
    return os.str();
  };
  const std::string th = std::to_string(c.threads) + " thread(s) per rank";
  // A figure kept from the base profile says why; calibrating from a calibrated profile keeps
  // that note instead of nesting it.
  auto inherited = [&](const char* why, const char* key) {
    const std::string& was = base.sources.at(key);
    if (was.rfind("not measur", 0) == 0) return was;
    return std::string(why) + ": from profile " + base.name + ": " + was;
  };
  perf::HardwareProfile p = base;
  p.name = "this_machine";
  p.description = "Calibrated by lpt calibrate on this machine, " + th + ", " +
                  std::to_string(c.ranks_per_node) + " rank(s) per node; layer shape B=" +
                  std::to_string(c.batch) + " T=" + std::to_string(c.seq) +
                  " d=" + std::to_string(c.d) + ".";
  p.kind = "cpu";
  p.ranks_per_node = c.ranks_per_node;
  p.gemm_flops_fp32 = c.gemm_flops;
  p.gemm_flops_bf16 = c.gemm_flops;
  p.vector_flops = c.vector_flops;
  p.memory_bandwidth = c.memory_bandwidth;
  p.memory_capacity = c.memory_bytes / c.ranks_per_node;
  p.kernel_overhead_s = c.overhead_s;
  const std::string g = std::to_string(c.gemm_n);
  p.sources["gemm_flops_fp32"] = fmt(("a " + g + "x" + g + "x" + g + " fp32 GEMM (lpt::ops::gemm), " +
                                      th + ", median").c_str(), c.gemm_flops, "FLOP/s");
  p.sources["gemm_flops_bf16"] =
      "lpt computes in fp32 on CPUs, so the measured fp32 GEMM rate (" + th + ")";
  p.sources["vector_flops"] = fmt(("an in-cache axpy (2 FLOP per element), " + th).c_str(),
                                  c.vector_flops, "FLOP/s");
  p.sources["memory_bandwidth"] =
      fmt(("an out-of-cache axpy over 3 x 32 MiB, counting read x, read y, write y, " + th).c_str(),
          c.memory_bandwidth, "B/s");
  p.sources["memory_capacity"] = "sysconf physical memory / ranks per node";
  p.sources["kernel_overhead_s"] =
      fmt(("a 1x1x1 GEMM call (entry, dispatch, threading), " + th).c_str(), c.overhead_s, "s");
  p.sources["ranks_per_node"] = c.latency_s > 0
                                    ? "MPI ranks sharing this node in the calibration run"
                                    : "hardware threads / OpenMP threads per rank";
  if (c.latency_s > 0 && c.bandwidth_Bps > 0) {
    p.intra_node = {c.latency_s, c.bandwidth_Bps};
    p.sources["intra_node.latency_s"] = fmt("an 8-byte MPI ping-pong between ranks 0 and 1 (half "
                                            "round trip, median)", c.latency_s, "s");
    p.sources["intra_node.bandwidth"] =
        fmt("a state-sized MPI ping-pong between ranks 0 and 1, latency subtracted",
            c.bandwidth_Bps, "B/s");
  } else {
    for (const char* k : {"intra_node.latency_s", "intra_node.bandwidth"})
      p.sources[k] = inherited("not measured (one rank; run under mpirun -np 2)", k);
  }
  for (const char* k : {"inter_node.latency_s", "inter_node.bandwidth"})
    p.sources[k] = inherited("not measurable on one node", k);
  return p;
}

}  // namespace lpt
