// Log-sum-exp with the row maximum subtracted (no overflow); exp runs vectorized through Eigen.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positives in Eigen AVX-512
#include <Eigen/Core>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "model/ops/cross_entropy.hpp"
#include "model/arena.hpp"
#include "util/error.hpp"

namespace lpt::ops {
namespace {

template <class T>
using CRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;

template <class Idx>
void check_targets(const char* op, const Idx* targets, int N, int V, int ignore_index) {
  for (int n = 0; n < N; ++n) {
    const long long t = static_cast<long long>(targets[n]);
    if (t != ignore_index && (t < 0 || t >= V))
      fail(op, ": target ", t, " of row ", n, " is outside [0, ", V, ") and is not the ignore index ",
           ignore_index, "; check the targets against the vocabulary / number of classes");
  }
}

void check_smoothing(const char* op, double eps) {
  require(eps >= 0.0 && eps <= 1.0, op, ": label smoothing must be in [0, 1], got ", eps);
}

}  // namespace

template <class Idx>
int count_targets(const Idx* targets, int N, int ignore_index) {
  int c = 0;
  for (int n = 0; n < N; ++n) c += static_cast<long long>(targets[n]) != ignore_index;
  return c;
}

template <class T, class Idx>
double cross_entropy_forward(T* losses, T* lse, const T* logits, const Idx* targets, int N, int V,
                             double label_smoothing, int ignore_index) {
  require(N >= 0 && V >= 1, "cross_entropy_forward: bad sizes N=", N, " V=", V);
  check_smoothing("cross_entropy_forward", label_smoothing);
  check_targets("cross_entropy_forward", targets, N, V, ignore_index);
  const T eps = T(label_smoothing);
#pragma omp parallel for schedule(static) if (parallel_worth(std::size_t(N) * V, 1 << 13))
  for (int n = 0; n < N; ++n) {
    CRow<T> x(logits + std::size_t(n) * V, V);
    const T m = x.maxCoeff();
    const T l = m + std::log((x - m).exp().sum());
    lse[n] = l;
    const long long t = static_cast<long long>(targets[n]);
    if (t == ignore_index) {
      losses[n] = T(0);
      continue;
    }
    T loss = (T(1) - eps) * (l - x[t]);
    if (eps != T(0)) loss += eps * (l - x.mean());
    losses[n] = loss;
  }
  double total = 0;
  for (int n = 0; n < N; ++n) total += double(losses[n]);
  const int count = count_targets(targets, N, ignore_index);
  return count ? total / count : 0.0;
}

template <class T, class Idx>
void cross_entropy_backward(T* dlogits, const T* logits, const T* lse, const Idx* targets, int N,
                            int V, double dloss, double label_smoothing, int ignore_index) {
  require(N >= 0 && V >= 1, "cross_entropy_backward: bad sizes N=", N, " V=", V);
  check_smoothing("cross_entropy_backward", label_smoothing);
  check_targets("cross_entropy_backward", targets, N, V, ignore_index);
  const int count = count_targets(targets, N, ignore_index);
  if (count == 0) return;
  const T scale = T(dloss / count);
  const T eps = T(label_smoothing);
  const T uniform = eps / T(V);
#pragma omp parallel for schedule(static) if (parallel_worth(std::size_t(N) * V, 1 << 13))
  for (int n = 0; n < N; ++n) {
    const long long t = static_cast<long long>(targets[n]);
    if (t == ignore_index) continue;
    CRow<T> x(logits + std::size_t(n) * V, V);
    Row<T> d(dlogits + std::size_t(n) * V, V);
    d += scale * ((x - lse[n]).exp() - uniform);
    d[t] -= scale * (T(1) - eps);
  }
}

template <class T, class Idx>
AccuracyCount accuracy_count(const T* logits, const Idx* targets, int N, int V, int ignore_index) {
  require(N >= 0 && V >= 1, "accuracy_count: bad sizes N=", N, " V=", V);
  AccuracyCount a;
  for (int n = 0; n < N; ++n) {
    const long long t = static_cast<long long>(targets[n]);
    if (t == ignore_index) continue;
    const T* x = logits + std::size_t(n) * V;
    int best = 0;
    for (int v = 1; v < V; ++v)
      if (x[v] > x[best]) best = v;
    ++a.counted;
    a.correct += best == t;
  }
  return a;
}

#define LPT_INSTANTIATE(T, I)                                                                     \
  template double cross_entropy_forward<T, I>(T*, T*, const T*, const I*, int, int, double, int); \
  template void cross_entropy_backward<T, I>(T*, const T*, const T*, const I*, int, int, double,  \
                                             double, int);                                        \
  template AccuracyCount accuracy_count<T, I>(const T*, const I*, int, int, int);
LPT_INSTANTIATE(float, std::int32_t)
LPT_INSTANTIATE(float, std::int64_t)
LPT_INSTANTIATE(double, std::int32_t)
LPT_INSTANTIATE(double, std::int64_t)
#undef LPT_INSTANTIATE
template int count_targets<std::int32_t>(const std::int32_t*, int, int);
template int count_targets<std::int64_t>(const std::int64_t*, int, int);

}  // namespace lpt::ops
