#include "train/train_step.hpp"

#include <chrono>
#include <cmath>

namespace lpt {
namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

template <class T>
TrainStep<T>::TrainStep(Model<T>& model, Optimizer<T>* opt) : model_(model), opt_(opt) {
  const int N = model.steps().num_steps();
  tapes_.assign(N, nullptr);
  tape_sizes_.assign(N, 0);
}

template <class T>
void TrainStep<T>::layout() {
  OdeStep<T>& s = model_.steps();
  const int N = s.num_steps();
  state_size_ = s.state_size();
  std::size_t need = Arena<T>::footprint(state_size_) * (N + 2);
  std::size_t tapes = 0;
  for (int n = 0; n < N; ++n) {
    tape_sizes_[n] = keep_tapes_ ? s.tape_size(n) : 0;
    tapes += Arena<T>::footprint(tape_sizes_[n]);
  }
  need += tapes;
  arena_.reset();
  if (arena_.capacity() < need) arena_.reserve(need);
  states_ = arena_.alloc(state_size_ * (N + 1));
  lam_ = arena_.alloc(state_size_);
  for (int n = 0; n < N; ++n) tapes_[n] = keep_tapes_ ? arena_.alloc(tape_sizes_[n]) : nullptr;
  states_elems_ = state_size_ * (N + 2);
  tapes_elems_ = tapes;
}

template <class T>
double TrainStep<T>::forward_backward() {
  layout();
  OdeStep<T>& s = model_.steps();
  ParamStore<T>& p = model_.params();
  const int N = s.num_steps();
  const std::size_t S = state_size_;
  double t0 = now();
  p.zero_grads();
  model_.open_forward(states_);
  for (int n = 0; n < N; ++n)
    s.forward(n, model_.h(n), states_ + n * S, states_ + (n + 1) * S, tapes_[n]);
  // The loss is the end of the forward; close computes λ_N right after it in one call, so its
  // backward half is counted in the forward phase (a few percent of the step).
  const double loss = model_.close(states_ + N * S, lam_);
  double t1 = now();
  times_.forward = t1 - t0;
  for (int n = N - 1; n >= 0; --n)
    s.backward(n, model_.h(n), states_ + n * S, tapes_[n], lam_, lam_,
               p.grads() + s.param_offset(n));
  model_.open_backward(lam_);
  times_.backward = now() - t1;
  return loss;
}

template <class T>
double TrainStep<T>::loss() {
  layout();
  OdeStep<T>& s = model_.steps();
  const int N = s.num_steps();
  const std::size_t S = state_size_;
  model_.open_forward(states_);
  for (int n = 0; n < N; ++n) s.forward(n, model_.h(n), states_ + n * S, states_ + (n + 1) * S, nullptr);
  return model_.close(states_ + N * S, nullptr);
}

template <class T>
StepStats TrainStep<T>::step() {
  const double loss = forward_backward();
  StepStats st = apply_update();
  st.loss = loss;
  return st;
}

template <class T>
StepStats TrainStep<T>::apply_update() {
  require(opt_, "TrainStep: an update needs an optimizer; pass one to the constructor");
  StepStats st;
  const double t0 = now();
  ParamStore<T>& p = model_.params();
  if (!sq_norm_) grad_sq_norm_by_tensor(p, norms_);
  st.grad_norm = std::sqrt(sq_norm_ ? sq_norm_(p) : ordered_total(norms_));
  if (!std::isfinite(st.grad_norm)) {
    st.skipped = true;
  } else {
    if (max_grad_norm_ > 0) {
      const double coef = clip_coefficient(st.grad_norm, max_grad_norm_);
      if (coef < 1) scale_grads(p.grads(), p.size(), coef);
    }
    opt_->step(p.values(), p.grads());
  }
  times_.optimizer = now() - t0;
  return st;
}

template class TrainStep<float>;
template class TrainStep<double>;

}  // namespace lpt
