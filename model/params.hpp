#pragma once
// All parameters of a model in one contiguous array, and all gradients in a parallel one (llm.c's
// arena): optimizers, gradient norms, checkpoints and MPI exchanges work on flat buffers, and a
// layer's parameters form one contiguous slice so a rank can pack exactly the layers it owns.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace lpt {

struct ParamEntry {
  std::string name;        // as in docs/parameters.md, e.g. "layers.3.attn.qkv_w"
  std::vector<int> shape;  // row-major
  std::size_t offset = 0;  // elements from the start of the arena
  std::size_t numel = 0;
};

// std::allocator gives 16-byte alignment; the padding below only lands tensors on cache lines if
// the base is on one too (measured before: every tensor started at 16 mod 64).
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::size_t kAlign = 64;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(std::size_t n) {
    const std::size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) { std::free(p); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const CacheLineAllocator<U>&) const { return false; }
};

template <class T>
class ParamStore {
 public:
  // Registration: offsets follow registration order, so registering a layer's tensors together
  // makes the layer one contiguous slice. Alignment pads every tensor to 16 elements (64 bytes
  // in float) so that each one starts on a cache line.
  void add(const std::string& name, std::vector<int> shape) {
    require(!finalized_, "ParamStore::add(", name, ") after finalize()");
    require(index_.count(name) == 0, "parameter '", name, "' registered twice");
    ParamEntry e;
    e.name = name;
    e.numel = 1;
    for (int s : shape) {
      require(s > 0, "parameter '", name, "' has a non-positive dimension");
      e.numel *= static_cast<std::size_t>(s);
    }
    e.shape = std::move(shape);
    e.offset = size_;
    size_ += (e.numel + 15) / 16 * 16;
    index_[name] = entries_.size();
    entries_.push_back(std::move(e));
  }

  void finalize() {
    require(!finalized_, "ParamStore::finalize() called twice");
    values_.assign(size_, T(0));
    grads_.assign(size_, T(0));
    finalized_ = true;
  }

  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const ParamEntry& entry(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) fail("no parameter named '", name, "' (see docs/parameters.md)");
    return entries_[it->second];
  }
  T* value(const std::string& name) { return values_.data() + entry(name).offset; }
  const T* value(const std::string& name) const { return values_.data() + entry(name).offset; }
  T* grad(const std::string& name) { return grads_.data() + entry(name).offset; }
  const T* grad(const std::string& name) const { return grads_.data() + entry(name).offset; }

  // [begin, end) element range covering every parameter whose name starts with prefix; the
  // tensors must have been registered consecutively (they are, per layer).
  std::pair<std::size_t, std::size_t> range(const std::string& prefix) const {
    std::size_t b = size_, e = 0;
    for (const auto& p : entries_)
      if (p.name.compare(0, prefix.size(), prefix) == 0) {
        b = std::min(b, p.offset);
        e = std::max(e, p.offset + (p.numel + 15) / 16 * 16);
      }
    require(b < e, "no parameters with prefix '", prefix, "'");
    return {b, e};
  }

  void zero_grads() { std::fill(grads_.begin(), grads_.end(), T(0)); }

  const std::vector<ParamEntry>& entries() const { return entries_; }
  std::size_t size() const { return size_; }  // elements including alignment padding
  T* values() { return values_.data(); }
  const T* values() const { return values_.data(); }
  T* grads() { return grads_.data(); }
  const T* grads() const { return grads_.data(); }

 private:
  std::vector<ParamEntry> entries_;
  std::map<std::string, std::size_t> index_;
  std::vector<T, CacheLineAllocator<T>> values_, grads_;
  std::size_t size_ = 0;
  bool finalized_ = false;
};

}  // namespace lpt
