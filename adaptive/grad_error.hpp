#pragma once
// How far the layer-parallel gradient ĝ is from the exact serial gradient g. Two views:
//  - compare_gradients: one batch, ĝ against g at the same parameters and data (what the error is);
//  - BiasEstimator: M batches at the same parameters, splitting the error d = ĝ - g into a
//    systematic part (the bias, which the controller acts on) and sampling noise (which SGD
//    tolerates). See docs/controller.md for why only the systematic part matters.
// Everything accumulates in double in a fixed order, so a result does not depend on threads or
// ranks, and the float gradients of training are compared without float round-off in the sums.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace lpt::mgrit {

// One flat gradient split in named segments (per layer of the chain, plus "opening"/"closing").
// Segments are [begin, end) index ranges into the flat gradient; they may leave gaps or overlap.
struct GradSegment {
  std::string name;
  std::size_t begin = 0, end = 0;
};

struct GradComparison {
  double norm_exact = 0, norm_approx = 0;
  double rel_error = 0;  // ||ĝ - g|| / ||g||   (0/0 -> 0; x/0 -> inf)
  double cosine = 0;     // ĝ·g / (||ĝ|| ||g||) (1 when both are zero, 0 when one is)
  // One entry per segment, same conventions; seg_norm_ratio = ||ĝ_s|| / ||g_s|| (0/0 -> 1,
  // x/0 -> inf): a zero segment reproduced as zero is exact, not undefined.
  std::vector<double> seg_cosine, seg_norm_ratio, seg_rel_error;
};

// Sums v element by element over the ranks that hold parts of a gradient split over ranks
// (ParamShards::sum_by_index); every element is filled on one rank.
using SumOverRanks = std::function<void(std::vector<double>&)>;

// approx = ĝ (layer-parallel), exact = g (serial), both length n. Double accumulation, fixed order.
// A segment reaching past n is an lpt::Error.
//
// With `ranks`, the gradient is split over ranks: the segments are the same list on every rank,
// each one's range on the rank that holds it and empty elsewhere, together covering every rank's
// part once. Each segment's sums are then taken where it lies, summed over the ranks, and added
// in segment order for the totals: the same bits on any number of ranks (and as a partition, not
// the whole vector, when ranks is given on one rank).
template <class T>
GradComparison compare_gradients(const T* approx, const T* exact, std::size_t n,
                                 const std::vector<GradSegment>& segments,
                                 const SumOverRanks& ranks = {});

// Separates the systematic part of the error d_i = ĝ_i - g_i from sampling noise over M batches
// (all at the same parameters: the caller holds the parameters fixed while adding).
//
// Why these quantities separate bias from noise. Write d_i = b + e_i with b = E d the bias and
// e_i zero-mean with covariance Σ. Then
//     E ||mean d||^2 = ||b||^2 + tr Σ / M,     E ||d_i||^2 = ||b||^2 + tr Σ,
// so averaging over batches leaves the bias and shrinks the noise as 1/M; a per-batch error
// ||d_i|| cannot tell the two apart. The sample variance s_d^2 = sum ||d_i - mean d||^2 / (M-1)
// estimates tr Σ without bias, hence ||mean d||^2 - s_d^2 / M estimates ||b||^2 without bias too.
struct BiasEstimate {
  int batches = 0;             // M
  double mean_error_norm = 0;  // ||mean d||: bias plus a noise floor of sqrt(tr Σ / M)
  double mean_grad_norm = 0;   // ||mean g||: the full-batch gradient the bias is measured against
  double grad_spread = 0;      // sqrt( sum ||g_i - mean g||^2 / (M-1) ), 0 when M < 2
  double error_spread = 0;     // same for d: sqrt of the unbiased estimate of tr Σ
  // ||mean d|| / ||mean g|| (0/0 -> 0, x/0 -> inf) <- the controller's metric: the error that
  // survives averaging, relative to the gradient that survives averaging, i.e. the η of the
  // inexact-gradient condition ||ĝ - g|| <= η ||g|| applied to the expected step.
  double bias_ratio = 0;
  // ||mean d|| / grad_spread (0/0 -> 0; inf when spread 0 and error > 0): the bias against the
  // noise SGD already lives with. Well below 1 the bias hides in the minibatch noise.
  double bias_vs_spread = 0;
  // max(0, ||mean d||^2 - error_spread^2/M) / mean_i ||d_i||^2, in [0, 1]: the share of the error
  // energy that is systematic (the unbiased ||b||^2 over an estimate of E||d||^2). With M = 1
  // nothing can be separated and the whole error counts as systematic (the cautious reading).
  // 0 when there is no error at all.
  double systematic_fraction = 0;
  double mean_rel_error = 0;  // mean_i ||d_i|| / ||g_i||: what a per-batch check would see
};

class BiasEstimator {
 public:
  BiasEstimator() = default;
  explicit BiasEstimator(std::size_t n) { reset(n); }

  void reset(std::size_t n);  // gradient length; clears
  // The gradient is split over ranks (as for compare_gradients): sums over components are taken
  // per segment and added in segment order after summing over the ranks. Kept across reset().
  void set_partition(std::vector<GradSegment> segments, SumOverRanks ranks);
  // One batch: ĝ_i and g_i at the same parameters and data, both of the length given to reset().
  // Adding before reset() is an lpt::Error (an estimator of length 0 would report no error).
  template <class T>
  void add(const T* approx, const T* exact);
  int count() const { return count_; }
  std::size_t size() const { return n_; }
  // All zeros (batches = 0) before the first add.
  BiasEstimate estimate() const;

 private:
  // Welford's running mean and sum of squared deviations, per component for the means and summed
  // over components for the spreads: no cancellation of large sums of squares, which the naive
  // sum ||g_i||^2 - M ||mean g||^2 would suffer when the spread is small against the mean.
  std::size_t n_ = 0;
  bool sized_ = false;
  int count_ = 0;
  std::vector<double> mean_d_, mean_g_;
  double m2_d_ = 0, m2_g_ = 0;  // sum_i ||x_i - mean x||^2, accumulated the Welford way
  double sum_d_sq_ = 0;         // sum_i ||d_i||^2
  double sum_rel_ = 0;          // sum_i ||d_i|| / ||g_i||
  std::vector<GradSegment> parts_;
  SumOverRanks ranks_;
};

}  // namespace lpt::mgrit
