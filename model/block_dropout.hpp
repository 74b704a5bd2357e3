#pragma once
// Counter-based dropout for the ODE steps: keep/drop of element i is a hash of
// (seed, step, layer, site, i), so recomputing a layer (MGRIT iterations, the backward's
// recompute) reproduces its mask without storing it, and the mask of one optimizer step is the
// same in every MGRIT iteration (docs/parameters.md). The backward applies the same function to
// the gradient.
#include <omp.h>

#include <cstddef>
#include <cstdint>

#include "model/tensor.hpp"

namespace lpt {

// Sites of the layer outputs that carry dropout (0 is the embedding output, owned by the model).
enum DropoutSite : std::uint64_t { kSiteEmbedding = 0, kSitePhi1 = 1, kSitePhi2 = 2, kSitePhi3 = 3 };

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// One key per (seed, step, layer, site): chained mixing so that nearby tuples do not collide.
inline std::uint64_t dropout_key(std::uint64_t seed, std::uint64_t step, std::uint64_t layer,
                                 std::uint64_t site) {
  return splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ step) ^ layer) ^ site);
}

// x[i] = keep(i) ? x[i] / (1 − p) : 0, keep(i) with probability 1 − p (24-bit resolution).
// Forward and backward are this same call with the same key. p == 0 is a no-op.
template <class T>
void dropout_inplace(T* x, std::size_t n, std::uint64_t key, double p) {
  if (p <= 0) return;
  const std::uint32_t threshold = static_cast<std::uint32_t>(p * double(1u << 24));
  const T s = T(1.0 / (1.0 - p));
#pragma omp parallel for simd schedule(static) if (parallel_worth(n))
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t r = static_cast<std::uint32_t>(splitmix64(key + i) >> 40);
    x[i] = r >= threshold ? x[i] * s : T(0);
  }
}

}  // namespace lpt
