// Times of the non-GEMM ops at the benchmark configuration (GPT, d 128, d_ff 512, seq 64, batch 8,
// vocab 256: N = 512 rows), float32, forward and backward, at the process' OpenMP thread count
// (set OMP_NUM_THREADS=1 to see the serial cost).
//   build-ops/bench/bench_ops --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "model/ops/cross_entropy.hpp"
#include "model/ops/dropout.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/gelu.hpp"
#include "model/ops/layernorm.hpp"

namespace {

constexpr int kN = 512, kD = 128, kFF = 512, kV = 256;

std::vector<float> rnd(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& e : v) e = d(g);
  return v;
}

void bytes(benchmark::State& st, double per_iter) {
  st.counters["GB/s"] = benchmark::Counter(per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LayerNormForward(benchmark::State& st) {
  const int C = int(st.range(0));
  auto x = rnd(std::size_t(kN) * C, 1), w = rnd(C, 2), b = rnd(C, 3);
  std::vector<float> y(x.size()), mean(kN), rstd(kN);
  for (auto _ : st) {
    lpt::ops::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), kN, C);
    benchmark::ClobberMemory();
  }
  bytes(st, 2.0 * x.size() * sizeof(float));
}
BENCHMARK(BM_LayerNormForward)->Arg(kD)->UseRealTime();

void BM_LayerNormBackward(benchmark::State& st) {
  const int C = int(st.range(0));
  auto x = rnd(std::size_t(kN) * C, 1), w = rnd(C, 2), b = rnd(C, 3), g = rnd(x.size(), 4);
  std::vector<float> y(x.size()), mean(kN), rstd(kN), dx(x.size()), dw(C), db(C);
  lpt::ops::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), kN, C);
  for (auto _ : st) {
    lpt::ops::layernorm_backward(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(),
                                 mean.data(), rstd.data(), kN, C);
    benchmark::ClobberMemory();
  }
  bytes(st, 4.0 * x.size() * sizeof(float));
}
BENCHMARK(BM_LayerNormBackward)->Arg(kD)->UseRealTime();

void BM_GeluForward(benchmark::State& st) {
  auto x = rnd(std::size_t(kN) * kFF, 5);
  std::vector<float> y(x.size());
  for (auto _ : st) {
    lpt::ops::gelu_forward(y.data(), x.data(), x.size());
    benchmark::ClobberMemory();
  }
  bytes(st, 2.0 * x.size() * sizeof(float));
}
BENCHMARK(BM_GeluForward)->UseRealTime();

void BM_BiasGeluForward(benchmark::State& st) {
  auto x = rnd(std::size_t(kN) * kFF, 5), b = rnd(kFF, 6);
  std::vector<float> y(x.size());
  for (auto _ : st) {
    lpt::ops::bias_gelu_forward(y.data(), x.data(), b.data(), kN, kFF);
    benchmark::ClobberMemory();
  }
  bytes(st, 3.0 * x.size() * sizeof(float));
}
BENCHMARK(BM_BiasGeluForward)->UseRealTime();

void BM_GeluBackward(benchmark::State& st) {
  auto x = rnd(std::size_t(kN) * kFF, 5), g = rnd(x.size(), 6);
  std::vector<float> dx(x.size());
  for (auto _ : st) {
    lpt::ops::gelu_backward(dx.data(), g.data(), x.data(), x.size());
    benchmark::ClobberMemory();
  }
  bytes(st, 4.0 * x.size() * sizeof(float));
}
BENCHMARK(BM_GeluBackward)->UseRealTime();

void BM_CrossEntropyForward(benchmark::State& st) {
  auto x = rnd(std::size_t(kN) * kV, 7, 2.0f);
  std::vector<std::int32_t> t(kN);
  for (int n = 0; n < kN; ++n) t[n] = (n * 31) % kV;
  std::vector<float> losses(kN), lse(kN);
  for (auto _ : st) {
    benchmark::DoNotOptimize(
        lpt::ops::cross_entropy_forward(losses.data(), lse.data(), x.data(), t.data(), kN, kV));
  }
  bytes(st, 1.0 * x.size() * sizeof(float));
}
BENCHMARK(BM_CrossEntropyForward)->UseRealTime();

void BM_CrossEntropyBackward(benchmark::State& st) {
  auto x = rnd(std::size_t(kN) * kV, 7, 2.0f);
  std::vector<std::int32_t> t(kN);
  for (int n = 0; n < kN; ++n) t[n] = (n * 31) % kV;
  std::vector<float> losses(kN), lse(kN), dx(x.size());
  lpt::ops::cross_entropy_forward(losses.data(), lse.data(), x.data(), t.data(), kN, kV);
  for (auto _ : st) {
    lpt::ops::cross_entropy_backward(dx.data(), x.data(), lse.data(), t.data(), kN, kV, 1.0);
    benchmark::ClobberMemory();
  }
  bytes(st, 3.0 * x.size() * sizeof(float));
}
BENCHMARK(BM_CrossEntropyBackward)->UseRealTime();

void BM_DropoutForward(benchmark::State& st) {
  auto x = rnd(std::size_t(kN) * kD, 8);
  std::vector<float> y(x.size());
  const lpt::ops::DropoutKey key{1, 2, 3, lpt::ops::kDropAttn};
  for (auto _ : st) {
    lpt::ops::dropout_forward(y.data(), x.data(), x.size(), 0.1, key);
    benchmark::ClobberMemory();
  }
  bytes(st, 2.0 * x.size() * sizeof(float));
}
BENCHMARK(BM_DropoutForward)->UseRealTime();

void BM_ResidualStep(benchmark::State& st) {
  auto u = rnd(std::size_t(kN) * kD, 9), a = rnd(u.size(), 10), c = rnd(u.size(), 11);
  std::vector<float> y(u.size());
  for (auto _ : st) {
    lpt::ops::residual_step(y.data(), u.data(), a.data(), c.data(), 1.0f, u.size());
    benchmark::ClobberMemory();
  }
  bytes(st, 4.0 * u.size() * sizeof(float));
}
BENCHMARK(BM_ResidualStep)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
