// GEMM throughput at the shapes of the benchmark configuration (GPT, 8 layers, d 128, 4 heads,
// d_ff 512, seq 64, batch 8, vocab 256 → N = B·T = 512 rows), Eigen (lpt::ops::gemm) against
// OpenBLAS cblas_sgemm, 1 and 2 threads, plus a large square product for the machine's peak.
//
// OpenBLAS is loaded with dlopen at start-up rather than linked, so the bench needs no build change
// and simply skips those rows where the library is absent. cblas numbers stand for what Eigen's
// BLAS back end (EIGEN_USE_BLAS) would give, since that back end forwards each product to sgemm.
//
// Run one library at a time: OpenBLAS' pthreads and the OpenMP pool spin after a call and steal the
// two cores from each other.
//   build-ops/bench/bench_gemm --benchmark_filter=Eigen --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//   build-ops/bench/bench_gemm --benchmark_filter=OpenBLAS ...
// (an Eigen row at 2 threads runs the whole product through lpt::ops::gemm, so "EigenSplit"
// rows measure what the ops actually use by default).
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <omp.h>

#include <random>
#include <string>
#include <vector>

#include "model/ops/gemm.hpp"

namespace {

// cblas enum values (CBLAS standard): RowMajor 101, NoTrans 111, Trans 112.
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using SetThreadsFn = void (*)(int);

struct OpenBlas {
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
  OpenBlas() {
    for (const char* name : {"libopenblas.so.0", "libopenblas.so"}) {
      void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!h) continue;
      sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
      set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
      if (sgemm) return;
    }
  }
};
const OpenBlas& openblas() {
  static OpenBlas o;
  return o;
}

struct Shape {
  const char* name;
  bool ta, tb;
  int M, N, K;
  int batch;  // > 1: strided batched (attention's per-(batch, head) products)
};

// Forward: linear_forward is out = inp · w^T (NT). Backward: dinp = dout · w (NN),
// dw = dout^T · inp (TN). Attention: S = Q K^T (NT) and O = P V (NN) per (batch, head).
const Shape kShapes[] = {
    {"fwd_qkv_512x384x128", false, true, 512, 384, 128, 1},
    {"fwd_attnproj_512x128x128", false, true, 512, 128, 128, 1},
    {"fwd_fc_512x512x128", false, true, 512, 512, 128, 1},
    {"fwd_mlpproj_512x128x512", false, true, 512, 128, 512, 1},
    {"fwd_logits_512x256x128", false, true, 512, 256, 128, 1},
    {"bwd_dinp_qkv_512x128x384", false, false, 512, 128, 384, 1},
    {"bwd_dinp_fc_512x128x512", false, false, 512, 128, 512, 1},
    {"bwd_dinp_mlpproj_512x512x128", false, false, 512, 512, 128, 1},
    {"bwd_dw_qkv_384x128x512", true, false, 384, 128, 512, 1},
    {"bwd_dw_fc_512x128x512", true, false, 512, 128, 512, 1},
    {"bwd_dw_mlpproj_128x512x512", true, false, 128, 512, 512, 1},
    {"bwd_dw_attnproj_128x128x512", true, false, 128, 128, 512, 1},
    {"attn_qk_64x64x32_b32", false, true, 64, 64, 32, 32},
    {"attn_pv_64x32x64_b32", false, false, 64, 32, 64, 32},
    {"square_2048", false, false, 2048, 2048, 2048, 1},
};

struct Buffers {
  std::vector<float> a, b, c;
  explicit Buffers(const Shape& s) {
    std::mt19937 g(1);
    std::uniform_real_distribution<float> u(-1, 1);
    a.resize(std::size_t(s.M) * s.K * s.batch);
    b.resize(std::size_t(s.K) * s.N * s.batch);
    c.assign(std::size_t(s.M) * s.N * s.batch, 0.0f);
    for (auto& e : a) e = u(g);
    for (auto& e : b) e = u(g);
  }
};

void set_counters(benchmark::State& st, const Shape& s) {
  const double flops = 2.0 * s.M * s.N * s.K * s.batch;
  st.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_eigen(benchmark::State& st, Shape s, lpt::ops::GemmThreading mode) {
  const int threads = int(st.range(0));
  omp_set_num_threads(threads);
  lpt::ops::set_gemm_threading(mode);
  Buffers buf(s);
  const int lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  for (auto _ : st) {
    if (s.batch == 1)
      lpt::ops::gemm(s.ta, s.tb, s.M, s.N, s.K, 1.0f, buf.a.data(), lda, buf.b.data(), ldb, 0.0f,
                     buf.c.data(), s.N);
    else
      lpt::ops::gemm_strided_batched(s.ta, s.tb, s.M, s.N, s.K, 1.0f, buf.a.data(), lda,
                                     std::int64_t(s.M) * s.K, buf.b.data(), ldb,
                                     std::int64_t(s.K) * s.N, 0.0f, buf.c.data(), s.N,
                                     std::int64_t(s.M) * s.N, s.batch);
    benchmark::DoNotOptimize(buf.c.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, s);
}

void bm_openblas(benchmark::State& st, Shape s) {
  const auto& ob = openblas();
  if (!ob.sgemm) {
    st.SkipWithError("libopenblas.so not found");
    return;
  }
  const int threads = int(st.range(0));
  if (ob.set_threads) ob.set_threads(threads);
  Buffers buf(s);
  const int lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  const int ta = s.ta ? 112 : 111, tb = s.tb ? 112 : 111;
  for (auto _ : st) {
    // A batch is a plain loop of sgemm calls, as EIGEN_USE_BLAS would issue them.
    for (int i = 0; i < s.batch; ++i)
      ob.sgemm(101, ta, tb, s.M, s.N, s.K, 1.0f, buf.a.data() + std::size_t(i) * s.M * s.K, lda,
               buf.b.data() + std::size_t(i) * s.K * s.N, ldb, 0.0f,
               buf.c.data() + std::size_t(i) * s.M * s.N, s.N);
    benchmark::DoNotOptimize(buf.c.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, s);
}

const bool registered = [] {
  for (const Shape& s : kShapes) {
    // One thread: rates over the calling thread's CPU time, which stays meaningful on a shared,
    // loaded machine. Two threads: wall time (only meaningful when the two cores are free).
    // "Eigen" is Eigen's own parallel GEMM, "EigenSplit" lpt's row/column split (GemmThreading).
    const std::string n = s.name;
    using lpt::ops::GemmThreading;
    benchmark::RegisterBenchmark(("Eigen/" + n).c_str(), bm_eigen, s, GemmThreading::eigen)
        ->Arg(1)->MinTime(0.2);
    benchmark::RegisterBenchmark(("OpenBLAS/" + n).c_str(), bm_openblas, s)->Arg(1)->MinTime(0.2);
    benchmark::RegisterBenchmark(("Eigen/" + n).c_str(), bm_eigen, s, GemmThreading::eigen)
        ->Arg(2)->UseRealTime()->MinTime(0.2);
    benchmark::RegisterBenchmark(("EigenSplit/" + n).c_str(), bm_eigen, s, GemmThreading::split)
        ->Arg(2)->UseRealTime()->MinTime(0.2);
    benchmark::RegisterBenchmark(("OpenBLAS/" + n).c_str(), bm_openblas, s)
        ->Arg(2)->UseRealTime()->MinTime(0.2);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
