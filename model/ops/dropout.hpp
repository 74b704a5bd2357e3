#pragma once
// Inverted dropout whose mask is a pure function of (seed, step, layer, site, element index): a
// counter-based hash instead of a stateful RNG, so that MGRIT can recompute a layer any number of
// times within one optimizer step and get the same mask without storing it (method.md: a layer
// must be a deterministic map during one step). Nothing is saved for the backward.
#include <cstddef>
#include <cstdint>

namespace lpt::ops {

// Where in a layer the dropout sits (docs/parameters.md); part of the key so that the sites of one
// layer draw independent masks.
enum DropoutSite : std::uint32_t {
  kDropEmbedding = 0,  // the embedding output (use layer 0)
  kDropAttn = 1,       // φ1 output
  kDropMlp = 2,        // φ2 output
  kDropCross = 3,      // φ3 output (decoder cross-attention)
};

struct DropoutKey {
  std::uint64_t seed = 0;  // run seed
  std::uint64_t step = 0;  // optimizer step: a new mask every step
  std::uint32_t layer = 0;
  std::uint32_t site = 0;  // a DropoutSite
};

// SplitMix64's finalizer: a bijection on 64 bits with full avalanche.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One 64-bit stream id per key; chained mixing so that nearby keys give unrelated streams.
inline std::uint64_t dropout_stream(const DropoutKey& k) {
  std::uint64_t h = mix64(k.seed + 0x9E3779B97F4A7C15ull);
  h = mix64(h ^ (k.step + 0xD1B54A32D192ED03ull));
  return mix64(h ^ ((std::uint64_t(k.layer) << 32) | k.site));
}

// Drop threshold for probability p in [0, 1): an element is kept iff its hash >= threshold.
inline std::uint64_t dropout_threshold(double p) {
  const double t = p * 18446744073709551616.0;  // p · 2^64
  return t >= 18446744073709551615.0 ? ~std::uint64_t(0) : std::uint64_t(t);
}

// Whether element `index` of the tensor keyed by `stream` survives.
inline bool dropout_keep(std::uint64_t stream, std::uint64_t index, std::uint64_t threshold) {
  return mix64(stream + index * 0x9E3779B97F4A7C15ull) >= threshold;
}

// out[n] = keep(i) ? inp[n] / (1 − p) : 0 with i = first_index + n; p = 0 copies exactly.
// first_index lets a caller that holds a slice of a larger tensor use the slice's global indices.
// out may alias inp. Throws lpt::Error for p outside [0, 1).
template <class T>
void dropout_forward(T* out, const T* inp, std::size_t n, double p, const DropoutKey& key,
                     std::uint64_t first_index = 0);

// dinp[n] += keep(i) ? dout[n] / (1 − p) : 0   (same key, p and first_index as the forward)
template <class T>
void dropout_backward(T* dinp, const T* dout, std::size_t n, double p, const DropoutKey& key,
                      std::uint64_t first_index = 0);

}  // namespace lpt::ops
