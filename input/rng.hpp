#pragma once
// The data pipeline's random numbers: xoshiro256** seeded through splitmix64. Its whole state is
// four words, so a loader's position in its random stream is saved and restored exactly (the
// resume contract of docs/data.md), and the numbers are the same on every platform, unlike
// std::uniform_int_distribution whose algorithm the standard leaves open.
#include <array>
#include <cstdint>

namespace lpt {

// splitmix64 step: a bijective mixer, used to derive independent seeds from (seed, purpose, n).
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
inline std::uint64_t mix64(std::uint64_t a, std::uint64_t b) { return mix64(mix64(a) ^ b); }
inline std::uint64_t mix64(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return mix64(mix64(a, b) ^ c);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& w : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      w = mix64(x);
    }
  }

  std::uint64_t next() {
    const std::uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

  // Uniform in [0, n), n >= 1, without modulo bias (Lemire's multiply-and-reject).
  std::uint64_t below(std::uint64_t n) {
    unsigned __int128 m = (unsigned __int128)next() * n;
    std::uint64_t lo = std::uint64_t(m);
    if (lo < n) {
      const std::uint64_t floor = (0 - n) % n;
      while (lo < floor) {
        m = (unsigned __int128)next() * n;
        lo = std::uint64_t(m);
      }
    }
    return std::uint64_t(m >> 64);
  }

  std::array<std::uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<std::uint64_t, 4>& s) { s_ = s; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

}  // namespace lpt
