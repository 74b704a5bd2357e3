#pragma once
// The one-step map of the layer ODE, as the MGRIT solver sees it: u[n+1] = u[n] + h·F(u[n]; θ[n]).
// The solver knows nothing of attention: a state is a flat array of state_size() elements, a layer
// is an index, and everything a step needs beyond (layer, h, u) — batch size, sequence lengths,
// masks, dropout keys — is set once per batch on the concrete step object (see StepBatch).
//
// Contract (docs/blocks.md):
// - Any h and any layer index in [0, num_steps()) is valid: MGRIT coarse levels call the fine
//   layer at the coarse point with step m·h.
// - Thread safety: concurrent calls for DIFFERENT layers from threads of one OpenMP parallel
//   region are safe (per-thread workspaces, sized for omp_get_max_threads() at set_batch). Inside
//   a parallel region every op runs single-threaded; outside, ops use OpenMP themselves. Two
//   concurrent backward calls that accumulate into the same dtheta slice race.
// - In place: u_next may alias u, lam may alias lam_next.
// - tape: tape_size(layer) elements; forward with a tape, then backward with that tape gives
//   bit-identical results to backward with tape == nullptr (recompute from u) when the tape is
//   64-byte aligned (as lpt::Arena hands out).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lpt {

template <class T>
class OdeStep {
 public:
  virtual ~OdeStep() = default;

  virtual std::size_t state_size() const = 0;  // elements of one state u[n] (flat)
  virtual int num_steps() const = 0;            // N (N_enc + N_dec for translation)
  // Elements forward(layer, ...) keeps for backward when given a tape.
  virtual std::size_t tape_size(int layer) const = 0;
  // The layer's parameters as one slice [param_offset, param_offset + param_count) of the
  // ParamStore's values()/grads() arrays: dtheta in backward is grads() + param_offset(layer).
  virtual std::size_t param_offset(int layer) const = 0;
  virtual std::size_t param_count(int layer) const = 0;
  // Whether this rank holds the layer's parameters (model split over ranks, model/params.hpp).
  virtual bool holds_layer(int layer) const { return true; }

  // u_next = u + h F(u; θ[layer]); if tape != nullptr also keeps what backward needs.
  virtual void forward(int layer, T h, const T* u, T* u_next, T* tape) = 0;

  // lam_next = dL/du_next. lam (if non-null) is WRITTEN: lam = lam_next + h (∂F/∂u)^T lam_next.
  // dtheta (if non-null, the layer's gradient slice, param_count(layer) elements) ACCUMULATES
  // h (∂F/∂θ)^T lam_next. tape: from forward(layer, h, u, ..., tape) with the same h, or nullptr
  // to recompute from u.
  virtual void backward(int layer, T h, const T* u, const T* tape, const T* lam_next, T* lam,
                        T* dtheta) = 0;

  // Per-thread workspaces for at least n threads from now on (and at every set_batch), for a
  // caller that runs steps on a thread team larger than omp_get_max_threads() (MGRIT's F-interval
  // threads under train.threads = 1).
  virtual void reserve_threads(int n) {}

  void vjp(int layer, T h, const T* u, const T* tape, const T* lam_next, T* lam) {
    backward(layer, h, u, tape, lam_next, lam, nullptr);
  }
  void param_grad(int layer, T h, const T* u, const T* tape, const T* lam_next, T* dtheta) {
    backward(layer, h, u, tape, lam_next, nullptr, dtheta);
  }
};

// What one batch fixes for every step of a solve. Set it with set_batch() on the concrete step
// before the solve; it is copied.
struct StepBatch {
  int B = 1;      // sequences in the batch
  int T = 1;      // sequence length (translation: source length Ts)
  int T_tgt = 0;  // translation only: target length Tt
  // [B, T] (translation: the source mask), 1 real / 0 padding; empty = no padding.
  std::vector<std::uint8_t> key_mask;
  // Dropout masks are a pure function of (seed, step, layer, site, index): fixed during one
  // optimizer step, so every layer is a deterministic map across MGRIT iterations.
  std::uint64_t dropout_seed = 0;
  std::uint64_t dropout_step = 0;  // the optimizer step
  bool train = true;               // false: no dropout (evaluation)
};

}  // namespace lpt
