// One full serial training step of GPT (forward + backward + AdamW, float32), the unit of the
// lpt-vs-PyTorch comparison (bench/README.md, bench/results/train_step.md).
//
// Two ways to run it:
//   bench_train_step [google-benchmark flags]   Google Benchmark cases for configs A and B at 1
//                                               and 2 threads (GFLOP/s as a counter).
//   bench_train_step --serve                    a line protocol on stdin/stdout, driven by
//                                               bench/compare_torch.py so that lpt and torch steps
//                                               can be interleaved in one run:
//     init L d H dff T B V seed   -> "ready <params> <arena_bytes> <tape_bytes_per_layer>"
//     tokens t_0 ... t_{B*T-1}    -> "ok"   (the batch; targets = tokens shifted left, last -100)
//     threads n                   -> "ok"
//     step k                      -> "times s_1 ... s_k fwd bwd opt" (seconds per step, and the
//                                    phase sums over the k steps)
//     quit
#include <benchmark/benchmark.h>
#include <omp.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "model/families/gpt.hpp"
#include "train/train_step.hpp"

namespace {

using lpt::GptBatch;
using lpt::GptModel;

struct Bench {
  lpt::ModelConfig cfg;
  std::unique_ptr<GptModel<float>> model;
  std::unique_ptr<lpt::AdamW<float>> opt;
  std::unique_ptr<lpt::TrainStep<float>> ts;
  GptBatch batch;

  void init(int L, int d, int H, int dff, int T, int B, int V, unsigned seed) {
    cfg = lpt::ModelConfig{};
    cfg.d_model = d, cfg.heads = H, cfg.d_ff = dff, cfg.layers = L, cfg.vocab = V, cfg.max_len = T;
    model = std::make_unique<GptModel<float>>(cfg);
    model->init(seed);
    opt = std::make_unique<lpt::AdamW<float>>(model->params().size());
    opt->set_lr(1e-4);
    opt->set_groups(lpt::no_decay_groups(model->params().entries()));
    ts = std::make_unique<lpt::TrainStep<float>>(*model, opt.get());
    batch.shape(B, T);
    std::mt19937 rng(seed);
    std::vector<int> t(std::size_t(B) * T);
    for (auto& x : t) x = int(rng() % unsigned(V));
    set_tokens(t);
  }
  void set_tokens(const std::vector<int>& t) {
    const int B = batch.B, T = batch.T;
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < T; ++i) {
        batch.tokens[b * T + i] = t[b * T + i];
        batch.targets[b * T + i] = i + 1 < T ? t[b * T + i + 1] : lpt::kIgnoreIndex;
      }
    model->set_batch(batch);
  }
  // FLOPs of one step: 3 × the forward's matrix products (the backward costs two products per
  // forward product); attention counted over the full T×T score matrix, as both sides compute it.
  double flops() const {
    const double N = double(batch.B) * batch.T, d = cfg.d_model, f = cfg.d_ff, L = cfg.layers;
    const double fwd = L * (2 * N * (4 * d * d + 2 * d * f) + 4 * double(batch.B) * batch.T * batch.T * d) +
                       2 * N * d * cfg.vocab;
    return 3 * fwd;
  }
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int serve() {
  Bench b;
  std::string line;
  std::cout.setf(std::ios::scientific);
  std::cout.precision(6);
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    try {
      if (cmd == "init") {
        int L, d, H, dff, T, B, V;
        unsigned seed;
        in >> L >> d >> H >> dff >> T >> B >> V >> seed;
        b.init(L, d, H, dff, T, B, V, seed);
        b.ts->step();  // sizes the arena
        std::cout << "ready " << b.model->params().size() << " "
                  << (b.ts->arena_elems() + b.model->work_elems()) * sizeof(float) << " "
                  << b.model->steps().tape_size(0) * sizeof(float) << std::endl;
      } else if (cmd == "tokens") {
        std::vector<int> t(std::size_t(b.batch.B) * b.batch.T);
        for (auto& x : t) in >> x;
        b.set_tokens(t);
        std::cout << "ok" << std::endl;
      } else if (cmd == "threads") {
        int n;
        in >> n;
        omp_set_num_threads(n);
        b.model->set_batch(b.batch);  // workspaces are sized for the thread count
        std::cout << "ok" << std::endl;
      } else if (cmd == "step") {
        int k;
        in >> k;
        std::ostringstream os;
        os.setf(std::ios::scientific);
        os.precision(6);
        double fw = 0, bw = 0, op = 0;
        os << "times";
        for (int i = 0; i < k; ++i) {
          const double t0 = now();
          b.ts->step();
          os << " " << now() - t0;
          fw += b.ts->times().forward, bw += b.ts->times().backward, op += b.ts->times().optimizer;
        }
        os << " " << fw << " " << bw << " " << op;
        std::cout << os.str() << std::endl;
      } else if (cmd == "quit") {
        return 0;
      } else {
        std::cout << "error unknown command '" << cmd << "'" << std::endl;
      }
    } catch (const std::exception& e) {
      std::cout << "error " << e.what() << std::endl;
    }
  }
  return 0;
}

// Config A: 8 layers, d 128, 4 heads, d_ff 512, T 64, B 8, V 256.
// Config B: 12 layers, d 256, 8 heads, d_ff 1024, T 128, B 8, V 256.
void BM_TrainStep(benchmark::State& state) {
  const bool big = state.range(0) == 1;
  omp_set_num_threads(int(state.range(1)));
  Bench b;
  if (big)
    b.init(12, 256, 8, 1024, 128, 8, 256, 1);
  else
    b.init(8, 128, 4, 512, 64, 8, 256, 1);
  b.ts->step();
  for (auto _ : state) b.ts->step();
  state.counters["GFLOP/s"] =
      benchmark::Counter(b.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TrainStep)
    ->ArgNames({"configB", "threads"})
    ->Args({0, 1})
    ->Args({0, 2})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--serve") == 0) return serve();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
