#pragma once
// All parameters of a model in one contiguous array, and all gradients in a parallel one (llm.c's
// arena): optimizers, gradient norms, checkpoints and MPI exchanges work on flat buffers, and a
// layer's parameters form one contiguous slice so a rank can pack exactly the layers it owns.
//
// Split over ranks (docs/memory.md, "Ownership"): finalize(roles) allocates only the tensors a
// rank holds. Its own tensors ("owned": this rank keeps their gradient sum, optimizer state and
// checkpoint share) come first, in registration order, then copies of other ranks' tensors it
// reads ("ghost": values refreshed after each update, gradients sent to the owner); absent
// tensors take no memory. size(), values() and grads() of the owned part are what optimizers,
// norms and checkpoints work on; a ghost's pointers lie past size() (storage_size()).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace lpt {

// What a rank holds of one tensor.
enum class ParamRole { absent, ghost, owned };
// The role of each tensor by name; empty: every tensor owned (one rank, or a replicated model).
using ParamRoles = std::function<ParamRole(const std::string& name)>;

struct ParamEntry {
  std::string name;        // as in docs/parameters.md, e.g. "layers.3.attn.qkv_w"
  std::vector<int> shape;  // row-major
  std::size_t offset = 0;  // elements from the start of this rank's arena (when not absent)
  std::size_t numel = 0;
  std::size_t index = 0;   // registration order: the same on every rank
  std::size_t global_offset = 0;  // where the tensor lies in the whole model's arena
  ParamRole role = ParamRole::owned;
  bool present() const { return role != ParamRole::absent; }
  bool owned() const { return role == ParamRole::owned; }
  std::size_t padded() const { return (numel + 15) / 16 * 16; }
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
    e.offset = e.global_offset = global_size_;
    e.index = entries_.size();
    global_size_ += e.padded();
    index_[name] = entries_.size();
    entries_.push_back(std::move(e));
  }

  // Allocates the tensors this rank holds (all of them when roles is empty): owned ones first,
  // then ghosts, each part in registration order.
  void finalize(const ParamRoles& roles = {}) {
    require(!finalized_, "ParamStore::finalize() called twice");
    for (auto& e : entries_) e.role = roles ? roles(e.name) : ParamRole::owned;
    size_ = 0;
    for (auto& e : entries_)
      if (e.owned()) e.offset = size_, size_ += e.padded();
    storage_ = size_;
    for (auto& e : entries_)
      if (e.role == ParamRole::ghost) e.offset = storage_, storage_ += e.padded();
    distributed_ = storage_ != global_size_ || storage_ != size_;
    values_.assign(storage_, T(0));
    grads_.assign(storage_, T(0));
    finalized_ = true;
  }

  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const ParamEntry& entry(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) fail("no parameter named '", name, "' (see docs/parameters.md)");
    return entries_[it->second];
  }
  // Pointers of a tensor this rank holds (owned or ghost).
  T* value(const std::string& name) { return values_.data() + held(name).offset; }
  const T* value(const std::string& name) const { return values_.data() + held(name).offset; }
  T* grad(const std::string& name) { return grads_.data() + held(name).offset; }
  const T* grad(const std::string& name) const { return grads_.data() + held(name).offset; }

  // [begin, end) element range of this rank's arena covering every parameter whose name starts
  // with prefix; the tensors must have been registered consecutively (they are, per layer) and
  // be held alike (a layer is owned, ghost or absent as a whole).
  std::pair<std::size_t, std::size_t> range(const std::string& prefix) const {
    std::size_t b = storage_, e = 0;
    for (const auto& p : entries_)
      if (p.name.compare(0, prefix.size(), prefix) == 0) {
        require(p.present(), "parameter '", p.name, "' is not held on this rank");
        b = std::min(b, p.offset);
        e = std::max(e, p.offset + p.padded());
      }
    require(b < e, "no parameters with prefix '", prefix, "'");
    return {b, e};
  }
  // Whether every tensor under prefix is held here (the whole layer, for a chain).
  bool holds(const std::string& prefix) const {
    bool any = false;
    for (const auto& p : entries_)
      if (p.name.compare(0, prefix.size(), prefix) == 0) {
        if (!p.present()) return false;
        any = true;
      }
    return any;
  }

  void zero_grads() { std::fill(grads_.begin(), grads_.end(), T(0)); }

  const std::vector<ParamEntry>& entries() const { return entries_; }
  // Elements (with alignment padding) of the owned tensors: the optimizer's, the norm's and the
  // checkpoint's part, at the start of values() and grads().
  std::size_t size() const { return size_; }
  // Elements this rank allocates (owned and ghost), and the whole model's.
  std::size_t storage_size() const { return storage_; }
  std::size_t global_size() const { return global_size_; }
  // Whether some tensor is a ghost or absent here (finalize with roles that split the model).
  bool distributed() const { return distributed_; }
  T* values() { return values_.data(); }
  const T* values() const { return values_.data(); }
  T* grads() { return grads_.data(); }
  const T* grads() const { return grads_.data(); }

 private:
  const ParamEntry& held(const std::string& name) const {
    const ParamEntry& e = entry(name);
    require(e.present(), "parameter '", name, "' is not held on this rank (internal error: the "
            "work that reads it runs on another rank)");
    return e;
  }
  std::vector<ParamEntry> entries_;
  std::map<std::string, std::size_t> index_;
  std::vector<T, CacheLineAllocator<T>> values_, grads_;
  std::size_t size_ = 0, storage_ = 0, global_size_ = 0;
  bool finalized_ = false, distributed_ = false;
};

}  // namespace lpt
