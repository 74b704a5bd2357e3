#pragma once
// A Tensor is a non-owning view {data, shape} over memory someone else owns (an Arena, a
// ParamStore, a std::vector); ops take raw pointers, and Tensor exists so that callers can carry
// shapes around and check them once, with a message naming the op and both shapes. An Arena is one
// aligned allocation carved into tensors front to back; reset() makes it reusable for the next
// step without touching the allocator (no heap traffic in the hot path).
#include <omp.h>

#include <array>
#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <new>
#include <sstream>
#include <string>

#include "util/error.hpp"

namespace lpt {

// True when an element-wise loop of `work` elements should open an OpenMP team: the work is big
// enough to beat the fork/join cost (~1-2 us on this machine) and we are not already inside a
// parallel region (the MGRIT solver calls ops from its own threads; they must then run serially).
inline bool parallel_worth(std::size_t work, std::size_t threshold = std::size_t(1) << 15) {
  return work >= threshold && !omp_in_parallel() && omp_get_max_threads() > 1;
}

template <class T>
struct Tensor {
  static constexpr int kMaxDims = 4;
  T* data = nullptr;
  std::array<int, kMaxDims> shape{{0, 0, 0, 0}};
  int ndim = 0;

  Tensor() = default;
  Tensor(T* d, std::initializer_list<int> dims) : data(d) {
    require(dims.size() >= 1 && dims.size() <= kMaxDims, "Tensor: ", dims.size(),
            " dimensions requested, supported are 1 to ", kMaxDims);
    for (int s : dims) {
      require(s >= 0, "Tensor: negative dimension ", s);
      shape[ndim++] = s;
    }
  }

  std::size_t numel() const {
    std::size_t n = ndim > 0 ? 1 : 0;
    for (int i = 0; i < ndim; ++i) n *= static_cast<std::size_t>(shape[i]);
    return n;
  }
  int dim(int i) const {
    require(i >= 0 && i < ndim, "Tensor::dim(", i, ") on a tensor with ", ndim, " dimensions");
    return shape[i];
  }
  bool same_shape(const Tensor& o) const {
    if (ndim != o.ndim) return false;
    for (int i = 0; i < ndim; ++i)
      if (shape[i] != o.shape[i]) return false;
    return true;
  }
  std::string shape_str() const {
    std::ostringstream os;
    os << '[';
    for (int i = 0; i < ndim; ++i) os << (i ? "," : "") << shape[i];
    os << ']';
    return os.str();
  }
  T& operator[](std::size_t i) const { return data[i]; }
};

// Throws lpt::Error "<op>: <what_a> has shape [..] but <what_b> has shape [..]".
template <class A, class B>
void check_same_shape(const char* op, const char* what_a, const Tensor<A>& a, const char* what_b,
                      const Tensor<B>& b) {
  if (!a.same_shape(b))
    fail(op, ": ", what_a, " has shape ", a.shape_str(), " but ", what_b, " has shape ",
         b.shape_str(), "; they must match");
}

// Throws lpt::Error "<op>: <what> must have shape [..], got [..]".
template <class A>
void check_shape(const char* op, const char* what, const Tensor<A>& a,
                 std::initializer_list<int> expected) {
  Tensor<A> e(nullptr, expected);
  if (!a.same_shape(e))
    fail(op, ": ", what, " must have shape ", e.shape_str(), ", got ", a.shape_str());
}

// One 64-byte aligned block handed out front to back; every tensor starts on a cache line.
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
  Tensor<T> tensor(std::initializer_list<int> dims) {
    Tensor<T> t(nullptr, dims);
    t.data = alloc(t.numel());
    return t;
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
