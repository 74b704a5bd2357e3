#pragma once
// Counter-based dropout for the ODE steps: keep/drop of element i is a hash of
// (seed, step, layer, site, i), so recomputing a layer (MGRIT iterations, the backward's
// recompute) reproduces its mask without storing it, and the mask of one optimizer step is the
// same in every MGRIT iteration (docs/parameters.md). The backward applies the same function to
// the gradient. The hash itself is the one of model/ops/dropout.hpp; here the per-layer stream is
// resolved once per call (LayerCall::key_*) instead of per element.
#include <cstddef>
#include <cstdint>

#include "model/ops/dropout.hpp"
#include "model/arena.hpp"

namespace lpt {

// SplitMix64 (increment, then the finalizer): a counter-based generator, also used to derive
// initialization streams (model/init.cpp).
inline std::uint64_t splitmix64(std::uint64_t x) { return ops::mix64(x + 0x9E3779B97F4A7C15ull); }

// The mask stream of one (seed, step, layer, site).
inline std::uint64_t dropout_key(std::uint64_t seed, std::uint64_t step, std::uint64_t layer,
                                 std::uint64_t site) {
  return ops::dropout_stream(ops::DropoutKey{seed, step, std::uint32_t(layer), std::uint32_t(site)});
}

// x[i] = keep(i) ? x[i] / (1 − p) : 0 for the stream `key`; p <= 0 leaves x unchanged. Being its
// own transpose, the same call is the backward.
template <class T>
void dropout_inplace(T* x, std::size_t n, std::uint64_t key, double p) {
  if (p <= 0) return;
  const std::uint64_t threshold = ops::dropout_threshold(p);
  const T s = T(1.0 / (1.0 - p));
#pragma omp parallel for simd schedule(static) if (parallel_worth(n))
  for (std::size_t i = 0; i < n; ++i) x[i] = ops::dropout_keep(key, i, threshold) ? x[i] * s : T(0);
}

}  // namespace lpt
