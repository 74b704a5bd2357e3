#pragma once
// Memory for the ops, which take raw pointers with their shapes documented at the signature (as
// llm.c does): an Arena is one aligned allocation carved into buffers front to back; reset() makes
// it reusable for the next step without touching the allocator (no heap traffic in the hot path).
// And parallel_worth(), the one rule for when an element-wise loop opens an OpenMP team.
#include <omp.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "util/error.hpp"

namespace lpt {

// True when an element-wise loop of `work` elements should open an OpenMP team: the work is big
// enough to beat the fork/join cost (~1-2 us on this machine) and we are not already inside a
// parallel region (the MGRIT solver calls ops from its own threads; they must then run serially).
inline bool parallel_worth(std::size_t work, std::size_t threshold = std::size_t(1) << 15) {
  return work >= threshold && !omp_in_parallel() && omp_get_max_threads() > 1;
}

// One 64-byte aligned block handed out front to back; every buffer starts on a cache line.
// Capacity is fixed at construction (size it from the model's documented buffer sizes); asking
// for more throws instead of reallocating, since reallocation would invalidate handed-out views.
template <class T>
class Arena {
 public:
  static constexpr std::size_t kAlign = 64;
  Arena() = default;
  explicit Arena(std::size_t capacity_elems) { reserve(capacity_elems); }

  void reserve(std::size_t capacity_elems) {
    require(used_ == 0, "Arena::reserve() while ", used_, " elements are handed out; reset() first");
    const std::size_t bytes = round_up(capacity_elems * sizeof(T));
    void* p = bytes ? std::aligned_alloc(kAlign, bytes) : nullptr;
    if (bytes && !p) throw std::bad_alloc();
    mem_.reset(static_cast<T*>(p));
    capacity_ = bytes / sizeof(T);
  }

  // Carves numel elements (rounded up to a cache line); contents are not initialized.
  T* alloc(std::size_t numel) {
    const std::size_t step = round_up(numel * sizeof(T)) / sizeof(T);
    require(used_ + step <= capacity_, "Arena: out of memory asking for ", numel,
            " elements with ", capacity_ - used_, " of ", capacity_,
            " left; size the arena for the model's buffers");
    T* p = mem_.get() + used_;
    used_ += step;
    return p;
  }

  void reset() { used_ = 0; }
  std::size_t used() const { return used_; }
  std::size_t capacity() const { return capacity_; }

  // Elements alloc(numel) consumes, for sizing arenas up front.
  static std::size_t footprint(std::size_t numel) { return round_up(numel * sizeof(T)) / sizeof(T); }

 private:
  static std::size_t round_up(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> mem_;
  std::size_t capacity_ = 0, used_ = 0;
};

}  // namespace lpt
