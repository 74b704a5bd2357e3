#pragma once
// What both concrete step chains (TransformerSteps, TranslationSteps) share: per-layer parameter
// pointers resolved once from the ParamStore by name, the batch context, dropout keys, and the
// per-thread workspaces.
#include <omp.h>

#include <algorithm>

#include <array>
#include <string>
#include <vector>

#include "model/blocks/dropout.hpp"
#include "model/blocks/layer.hpp"
#include "model/blocks/ode_step.hpp"
#include "model/params.hpp"
#include "model/arena.hpp"
#include "util/error.hpp"

namespace lpt {

template <class T>
class StepChainBase : public OdeStep<T> {
 public:
  std::size_t param_offset(int layer) const override { return held(layer).begin; }
  std::size_t param_count(int layer) const override { return layers_[check(layer)].count; }
  bool holds_layer(int layer) const override { return layers_[check(layer)].present; }
  int num_steps() const override { return static_cast<int>(layers_.size()); }
  const StepBatch& batch() const { return batch_; }
  double dropout() const { return dropout_; }
  void reserve_threads(int n) override {
    min_threads_ = std::max(1, n);
    if (batch_set_) grow_workspaces();
  }

 protected:
  StepChainBase(ParamStore<T>& params, double dropout) : params_(params), dropout_(dropout) {
    require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got ", dropout);
  }

  // Appends a layer whose tensors are registered under prefix ("layers.3.", "dec.0.").
  // A layer this rank does not hold (ParamStore roles) is kept with its size only; calling it
  // is an error.
  void add_layer(const std::string& prefix, bool decoder) {
    Layer l;
    const int n = decoder ? kDecoderParams : kEncoderParams;
    l.decoder = decoder;
    l.present = params_.holds(prefix);
    for (int p = 0; p < n; ++p) {
      const ParamEntry& e = params_.entry(prefix + layer_param_name(p));
      l.offset[p] = e.offset;
      l.count += e.padded();
    }
    if (l.present) {
      const auto r = params_.range(prefix);
      l.begin = r.first;
      l.end = r.second;
      l.count = l.end - l.begin;
    }
    layers_.push_back(l);
  }

  int check(int layer) const {
    require(layer >= 0 && layer < static_cast<int>(layers_.size()), "ODE step: layer ", layer,
            " out of range [0, ", layers_.size(), ")");
    return layer;
  }

  const auto& held(int layer) const {
    const auto& l = layers_[check(layer)];
    require(l.present, "ODE step: layer ", layer, "'s parameters are not on this rank (internal "
            "error: a step of it was scheduled here)");
    return l;
  }

  LayerWeights<T> weights(int layer) const {
    const Layer& l = held(layer);
    LayerWeights<T> w;
    const int n = l.decoder ? kDecoderParams : kEncoderParams;
    for (int p = 0; p < n; ++p) w.w[p] = params_.values() + l.offset[p];
    return w;
  }
  // Gradient pointers into the layer's slice dtheta; all null when dtheta is null.
  LayerGrads<T> grads(int layer, T* dtheta) const {
    LayerGrads<T> g;
    if (!dtheta) return g;
    const Layer& l = layers_[layer];
    const int n = l.decoder ? kDecoderParams : kEncoderParams;
    for (int p = 0; p < n; ++p) g.g[p] = dtheta + (l.offset[p] - l.begin);
    return g;
  }

  // Dropout keys and rate of this layer for the current batch.
  void set_dropout(LayerCall& c, int layer) const {
    c.dropout = batch_.train ? dropout_ : 0.0;
    if (c.dropout <= 0) return;
    const auto key = [&](std::uint64_t site) {
      return dropout_key(batch_.dropout_seed, batch_.dropout_step, std::uint64_t(layer), site);
    };
    c.key_phi1 = key(ops::kDropAttn);
    c.key_phi2 = key(ops::kDropMlp);
    c.key_phi3 = key(ops::kDropCross);
  }

  // Every key row needs a real key; under a causal mask key 0 must be real (row 0 sees only it).
  // Checked here, outside any parallel region, so the attention ops never throw inside one.
  void check_batch(const StepBatch& b, int len, bool causal_on_mask) const {
    require(b.B >= 1 && len >= 1, "ODE step batch: B and T must be >= 1, got B=", b.B, " T=", len);
    if (b.key_mask.empty()) return;
    require(b.key_mask.size() == std::size_t(b.B) * len, "ODE step batch: key_mask has ",
            b.key_mask.size(), " entries, expected B*T = ", std::size_t(b.B) * len);
    for (int r = 0; r < b.B; ++r) {
      const std::uint8_t* m = b.key_mask.data() + std::size_t(r) * len;
      bool any = false;
      for (int j = 0; j < len; ++j) any = any || m[j] != 0;
      require(any, "ODE step batch: sequence ", r, " has no real token (key_mask all 0)");
      require(!causal_on_mask || m[0] != 0, "ODE step batch: sequence ", r,
              " starts with padding under a causal mask; pad at the end");
    }
  }

  // Per-thread workspaces: [recompute tape | layer work]. Thread 0's (also used outside any
  // parallel region) holds attention scratch for every thread; the others for one.
  void reserve_workspaces(std::size_t tape_elems, std::size_t work_outside,
                          std::size_t work_inside) {
    tape_elems_ = Arena<T>::footprint(tape_elems);
    work_outside_ = work_outside;
    work_inside_ = work_inside;
    grow_workspaces();
  }
  void grow_workspaces() {
    const int threads = std::max(omp_get_max_threads(), min_threads_);
    if (static_cast<int>(ws_.size()) < threads) {
      ws_.resize(threads);
      ws_ptr_.resize(threads, nullptr);
      ws_cap_.resize(threads, 0);
    }
    for (int t = 0; t < static_cast<int>(ws_.size()); ++t) {
      const std::size_t need = tape_elems_ + (t == 0 ? work_outside_ : work_inside_);
      if (ws_cap_[t] >= need) continue;
      ws_[t].reset();
      ws_[t].reserve(need);
      ws_ptr_[t] = ws_[t].alloc(need);
      ws_cap_[t] = need;
    }
  }
  // The calling thread's recompute tape and work buffers.
  T* ws_tape() { return ws_ptr_[thread()]; }
  T* ws_work() { return ws_ptr_[thread()] + tape_elems_; }

  ParamStore<T>& params_;
  StepBatch batch_;
  bool batch_set_ = false;
  int min_threads_ = 1;  // reserve_threads()
  std::size_t work_outside_ = 0, work_inside_ = 0;
  double dropout_;

 private:
  struct Layer {
    std::array<std::size_t, kDecoderParams> offset{};
    std::size_t begin = 0, end = 0;
    std::size_t count = 0;  // elements with padding (known on every rank)
    bool decoder = false;
    bool present = true;
  };
  int thread() const {
    const int t = omp_in_parallel() ? omp_get_thread_num() : 0;
    require(batch_set_, "ODE step called before set_batch()");
    require(t < static_cast<int>(ws_ptr_.size()), "ODE step called from thread ", t,
            " but workspaces exist for ", ws_ptr_.size(),
            " threads; call set_batch() after setting the thread count");
    return t;
  }
  std::vector<Layer> layers_;
  std::vector<Arena<T>> ws_;
  std::vector<T*> ws_ptr_;
  std::vector<std::size_t> ws_cap_;
  std::size_t tape_elems_ = 0;
};

}  // namespace lpt
