#pragma once
// 64-bit FNV-1a: a fast non-cryptographic hash that changes for any single flipped bit of its
// input (each byte is xor'd in, then multiplied by an odd prime, a bijection of the state).
// Checkpoints store one over everything a resume reads (util/checkpoint_io.hpp), so a damaged or
// hand-edited file is refused instead of resumed. It detects accidents, not tampering.
#include <cstddef>
#include <cstdint>
#include <string>

namespace lpt {

class Fnv1a {
 public:
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      h_ ^= p[i];
      h_ *= kPrime;
    }
  }
  // Length first, so that ("ab", "c") and ("a", "bc") differ.
  void add_string(const std::string& s) {
    add_u64(s.size());
    add(s.data(), s.size());
  }
  // Little-endian bytes, whatever the host: the value of the hash does not depend on the machine.
  void add_u64(std::uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    add(b, 8);
  }
  std::uint64_t value() const { return h_; }
  std::string hex() const;  // 16 lowercase hex digits

 private:
  static constexpr std::uint64_t kOffset = 14695981039346656037ull;
  static constexpr std::uint64_t kPrime = 1099511628211ull;
  std::uint64_t h_ = kOffset;
};

inline std::string Fnv1a::hex() const {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 0; i < 16; ++i) s[15 - i] = digits[(h_ >> (4 * i)) & 0xf];
  return s;
}

}  // namespace lpt
