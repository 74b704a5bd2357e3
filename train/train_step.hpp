#pragma once
// One serial training step of any family (model/model.hpp):
//   zero grads -> u0 = open -> u_{n+1} = F_n(u_n) keeping every state (and each layer's tape, or
//   recomputing it in the backward) -> loss, λ_N = close(u_N) -> λ_n = backward_n(λ_{n+1}),
//   accumulating each layer's dθ -> open_backward(λ_0) -> clip -> optimizer step.
// States, tapes and the adjoint live in ONE arena sized at the first step (and regrown only when
// a batch needs more); after that a step allocates nothing (tests/test_train_step.cpp counts).
//
// Usage:
//   TrainStep<float> ts(model, adamw);  model.set_batch(batch);  ts.step();  ts.times().forward
#include <cstddef>
#include <functional>
#include <vector>

#include "model/model.hpp"
#include "optim/optim.hpp"
#include "model/arena.hpp"

namespace lpt {

// Seconds spent in the phases of the last step.
struct PhaseTimes {
  double forward = 0;    // open, chain forward, close's forward (the loss)
  double backward = 0;   // close's backward, chain backward, open backward
  double optimizer = 0;  // clipping and the optimizer update
};

struct StepStats {
  double loss = 0;
  double grad_norm = 0;  // before clipping
  bool skipped = false;  // non-finite gradient norm: no update was made
};

template <class T>
class TrainStep {
 public:
  // Both must outlive the TrainStep. opt may be null for forward_backward() only.
  TrainStep(Model<T>& model, Optimizer<T>* opt);

  // Keep each layer's tape from the forward (default), or store only the states and recompute
  // each layer's tape inside its backward (less memory, ~1 more forward of work).
  void set_keep_tapes(bool keep) { keep_tapes_ = keep; }
  bool keep_tapes() const { return keep_tapes_; }
  // Clip the global gradient norm to this value; <= 0 disables clipping (default 1.0).
  void set_max_grad_norm(double v) { max_grad_norm_ = v; }
  // How the global squared gradient norm is taken (default: per tensor, then in registration
  // order, over this rank's params()); a model split over ranks sums the per-tensor vector over
  // its ranks first (train/model_split.hpp).
  void set_sq_norm(std::function<double(const ParamStore<T>&)> f) { sq_norm_ = std::move(f); }

  // Gradients of the batch the model is bound to (model.set_batch first): zeroes the grads,
  // fills them, returns the loss.
  double forward_backward();
  // Loss only (chain forward without tapes, no gradients).
  double loss();
  // forward_backward, then apply_update.
  StepStats step();
  // Clip and opt->step on the gradients already in the model (filled by forward_backward or by a
  // layer-parallel solve); a non-finite norm skips the update. stats.loss is left 0.
  StepStats apply_update();

  const PhaseTimes& times() const { return times_; }
  // The arena: capacity in elements, and the parts of it (elements) for the current batch.
  std::size_t arena_elems() const { return arena_.capacity(); }
  std::size_t state_elems() const { return states_elems_; }
  std::size_t tape_elems() const { return tapes_elems_; }
  // u_n of the last forward (n = 0..N), valid until the next step.
  const T* state(int n) const { return states_ + std::size_t(n) * state_size_; }

 private:
  void layout();  // carves the arena for the bound batch, growing it if needed

  Model<T>& model_;
  Optimizer<T>* opt_;
  bool keep_tapes_ = true;
  double max_grad_norm_ = 1.0;
  std::function<double(const ParamStore<T>&)> sq_norm_;
  std::vector<double> norms_;  // |grad|² per tensor
  Arena<T> arena_;
  std::size_t state_size_ = 0, states_elems_ = 0, tapes_elems_ = 0;
  T* states_ = nullptr;  // [N+1][state_size_]
  T* lam_ = nullptr;     // [state_size_], updated in place from λ_N down to λ_0
  std::vector<T*> tapes_;       // per layer, or null when recomputing
  std::vector<std::size_t> tape_sizes_;
  PhaseTimes times_;
};

}  // namespace lpt
