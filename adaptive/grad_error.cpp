#include "adaptive/grad_error.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "util/error.hpp"

namespace lpt::mgrit {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// a / b where b is a norm: a zero error against a zero gradient is exact (0), any error against a
// zero gradient is infinitely large (inf) rather than NaN, so that comparisons against η still
// order it correctly.
double ratio_or(double a, double b, double zero_over_zero) {
  if (b == 0) return a == 0 ? zero_over_zero : inf;
  return a / b;
}

// Both zero: the same vector, cosine 1. One zero: no direction to agree with, cosine 0.
// Clamped because rounding can put a parallel pair a hair past 1.
double cosine_of(double dot, double na, double ng) {
  if (na == 0 && ng == 0) return 1;
  if (na == 0 || ng == 0) return 0;
  return std::clamp(dot / (na * ng), -1.0, 1.0);
}

struct Sums {
  double aa = 0, gg = 0, ag = 0, dd = 0;
};

// dd is summed from the differences themselves rather than as aa + gg - 2 ag: when ĝ is close to
// g the latter cancels catastrophically, and small errors are exactly what we want to measure.
template <class T>
Sums sums(const T* a, const T* g, std::size_t begin, std::size_t end) {
  Sums s;
  for (std::size_t i = begin; i < end; ++i) {
    const double x = a[i], y = g[i], d = x - y;
    s.aa += x * x;
    s.gg += y * y;
    s.ag += x * y;
    s.dd += d * d;
  }
  return s;
}

// Per segment (in order) the values f gives for its range, summed over the ranks when split.
template <int K, class F>
std::vector<std::array<double, K>> by_segment(const std::vector<GradSegment>& segs,
                                              const SumOverRanks& ranks, F&& f) {
  std::vector<double> v(segs.size() * K, 0.0);
  for (std::size_t s = 0; s < segs.size(); ++s) {
    const std::array<double, K> x = f(segs[s].begin, segs[s].end);
    for (int k = 0; k < K; ++k) v[s * K + k] = x[k];
  }
  if (ranks) ranks(v);
  std::vector<std::array<double, K>> out(segs.size());
  for (std::size_t s = 0; s < segs.size(); ++s)
    for (int k = 0; k < K; ++k) out[s][k] = v[s * K + k];
  return out;
}

}  // namespace

template <class T>
GradComparison compare_gradients(const T* approx, const T* exact, std::size_t n,
                                 const std::vector<GradSegment>& segments,
                                 const SumOverRanks& ranks) {
  for (const auto& seg : segments)
    require(seg.begin <= seg.end && seg.end <= n, "gradient segment '", seg.name, "' is [",
            seg.begin, ", ", seg.end, ") but the gradient has ", n,
            " entries; segments must satisfy begin <= end <= n");
  GradComparison c;
  std::vector<Sums> seg;
  Sums s;
  if (ranks) {
    const auto v = by_segment<4>(segments, ranks, [&](std::size_t b, std::size_t e) {
      const Sums t = sums(approx, exact, b, e);
      return std::array<double, 4>{t.aa, t.gg, t.ag, t.dd};
    });
    for (const auto& x : v) {
      seg.push_back({x[0], x[1], x[2], x[3]});
      s.aa += x[0];
      s.gg += x[1];
      s.ag += x[2];
      s.dd += x[3];
    }
  } else {
    s = sums(approx, exact, 0, n);
    for (const auto& g : segments) seg.push_back(sums(approx, exact, g.begin, g.end));
  }
  c.norm_exact = std::sqrt(s.gg);
  c.norm_approx = std::sqrt(s.aa);
  c.rel_error = ratio_or(std::sqrt(s.dd), c.norm_exact, 0);
  c.cosine = cosine_of(s.ag, c.norm_approx, c.norm_exact);
  for (const Sums& t : seg) {
    const double na = std::sqrt(t.aa), ng = std::sqrt(t.gg);
    c.seg_cosine.push_back(cosine_of(t.ag, na, ng));
    c.seg_norm_ratio.push_back(ratio_or(na, ng, 1));
    c.seg_rel_error.push_back(ratio_or(std::sqrt(t.dd), ng, 0));
  }
  return c;
}

template GradComparison compare_gradients<float>(const float*, const float*, std::size_t,
                                                 const std::vector<GradSegment>&,
                                                 const SumOverRanks&);
template GradComparison compare_gradients<double>(const double*, const double*, std::size_t,
                                                  const std::vector<GradSegment>&,
                                                  const SumOverRanks&);

void BiasEstimator::reset(std::size_t n) {
  n_ = n;
  sized_ = true;
  count_ = 0;
  mean_d_.assign(n, 0.0);
  mean_g_.assign(n, 0.0);
  m2_d_ = m2_g_ = sum_d_sq_ = sum_rel_ = 0;
}

void BiasEstimator::set_partition(std::vector<GradSegment> segments, SumOverRanks ranks) {
  parts_ = std::move(segments);
  ranks_ = std::move(ranks);
}

template <class T>
void BiasEstimator::add(const T* approx, const T* exact) {
  require(sized_, "BiasEstimator::add before reset(n); call reset with the gradient length first");
  ++count_;
  const double k = count_;
  // {Σ d², Σ g², Welford increments of m2_d and m2_g} over [b, e).
  auto over = [&](std::size_t b, std::size_t e) {
    std::array<double, 4> x{0, 0, 0, 0};
    for (std::size_t i = b; i < e; ++i) {
      const double g = exact[i], d = double(approx[i]) - g;
      x[0] += d * d;
      x[1] += g * g;
      // Welford: the deviation from the old mean times the deviation from the new one adds
      // exactly this sample's share of the sum of squared deviations.
      const double dd = d - mean_d_[i];
      mean_d_[i] += dd / k;
      x[2] += dd * (d - mean_d_[i]);
      const double dg = g - mean_g_[i];
      mean_g_[i] += dg / k;
      x[3] += dg * (g - mean_g_[i]);
    }
    return x;
  };
  double d_sq = 0, g_sq = 0;
  if (ranks_) {
    for (const auto& x : by_segment<4>(parts_, ranks_, over)) {
      d_sq += x[0];
      g_sq += x[1];
      m2_d_ += x[2];
      m2_g_ += x[3];
    }
  } else {
    for (std::size_t i = 0; i < n_; ++i) {
      const double g = exact[i], d = double(approx[i]) - g;
      d_sq += d * d;
      g_sq += g * g;
      const double dd = d - mean_d_[i];
      mean_d_[i] += dd / k;
      m2_d_ += dd * (d - mean_d_[i]);
      const double dg = g - mean_g_[i];
      mean_g_[i] += dg / k;
      m2_g_ += dg * (g - mean_g_[i]);
    }
  }
  sum_d_sq_ += d_sq;
  sum_rel_ += ratio_or(std::sqrt(d_sq), std::sqrt(g_sq), 0);
}

template void BiasEstimator::add<float>(const float*, const float*);
template void BiasEstimator::add<double>(const double*, const double*);

BiasEstimate BiasEstimator::estimate() const {
  BiasEstimate e;
  e.batches = count_;
  if (count_ == 0) return e;
  const double m = count_;
  double md_sq = 0, mg_sq = 0;
  if (ranks_) {
    const auto v = by_segment<2>(parts_, ranks_, [&](std::size_t b, std::size_t e) {
      std::array<double, 2> x{0, 0};
      for (std::size_t i = b; i < e; ++i) {
        x[0] += mean_d_[i] * mean_d_[i];
        x[1] += mean_g_[i] * mean_g_[i];
      }
      return x;
    });
    for (const auto& x : v) {
      md_sq += x[0];
      mg_sq += x[1];
    }
  } else {
    for (std::size_t i = 0; i < n_; ++i) {
      md_sq += mean_d_[i] * mean_d_[i];
      mg_sq += mean_g_[i] * mean_g_[i];
    }
  }
  e.mean_error_norm = std::sqrt(md_sq);
  e.mean_grad_norm = std::sqrt(mg_sq);
  // One batch has no spread to measure; 0 (not NaN) keeps the record readable, and the fields
  // that divide by it say inf where that matters.
  if (count_ >= 2) {
    e.grad_spread = std::sqrt(std::max(0.0, m2_g_) / (m - 1));
    e.error_spread = std::sqrt(std::max(0.0, m2_d_) / (m - 1));
  }
  e.bias_ratio = ratio_or(e.mean_error_norm, e.mean_grad_norm, 0);
  e.bias_vs_spread = ratio_or(e.mean_error_norm, e.grad_spread, 0);
  const double mean_d_sq = sum_d_sq_ / m;
  const double bias_sq = std::max(0.0, md_sq - e.error_spread * e.error_spread / m);
  // ||mean d||^2 <= mean ||d_i||^2 (Jensen), so the fraction is at most 1 but for rounding.
  e.systematic_fraction = mean_d_sq > 0 ? std::min(1.0, bias_sq / mean_d_sq) : 0.0;
  e.mean_rel_error = sum_rel_ / m;
  return e;
}

}  // namespace lpt::mgrit
