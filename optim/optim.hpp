#pragma once
// Optimizers on flat buffers: the model keeps every parameter in one contiguous array and every
// gradient in a parallel one (model/params.hpp), so an optimizer is a loop over elements, and its
// state (moments, momentum) is flat arrays of the same length that a checkpoint stores as is.
//
// Semantics follow torch.optim exactly (AdamW: decoupled decay and bias correction; SGD: L2 decay
// added to the gradient, momentum buffer initialized to the first gradient); see
// docs/optimizers.md. Weight decay is per element range (ParamGroup): the caller decides which
// ranges (typically biases, LayerNorm and embeddings) get none.
//
// Usage per optimizer step s = opt.step_count() (0-based index of the step about to be taken):
//   opt.set_lr(schedule.lr(opt.step_count()));
//   opt.step(store.values(), store.grads());
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/params.hpp"

namespace lpt {


// Elements [begin, end) of the flat buffer with their own weight decay.
struct ParamGroup {
  std::size_t begin = 0;
  std::size_t end = 0;
  double weight_decay = 0.0;
};

// The usual exemption from weight decay (docs/optimizers.md): every 1-D tensor (biases, LayerNorm
// scales and shifts, mlm.bias, the ViT class token) and the embeddings (wte, wpe, src_/tgt_ wte
// and wpe, ViT pos). Weight matrices of the layers, patch_w and head_w are decayed.
bool exempt_from_decay(const std::string& name, const std::vector<int>& shape);
// Groups with weight decay 0 for the exempt tensors of a ParamStore layout (entries()),
// adjacent ranges merged; pass to Optimizer::set_groups.
std::vector<ParamGroup> no_decay_groups(const std::vector<ParamEntry>& entries);

template <class T>
class Optimizer {
 public:
  explicit Optimizer(std::size_t n);
  virtual ~Optimizer() = default;

  // params[n] updated in place from grads[n]; increments step_count(). No heap allocation.
  virtual void step(T* params, const T* grads) = 0;

  void set_lr(double lr);
  double lr() const { return lr_; }
  // Weight decay of every element that no group names (default: the optimizer's own default).
  void set_weight_decay(double wd);
  double weight_decay() const { return default_wd_; }
  // Ranges with their own decay; disjoint, inside [0, size()). Replaces earlier groups.
  void set_groups(const std::vector<ParamGroup>& groups);
  // Weight decay that applies to element i (for tests and logging).
  double weight_decay_at(std::size_t i) const;

  std::size_t size() const { return n_; }
  // Number of step() calls so far (torch's state['step']).
  std::int64_t step_count() const { return step_; }

  // Checkpoint state: step_count plus the flat arrays named by state_names(), each size().
  // Restoring all of them (and the parameters) continues a run bit-identically.
  virtual std::vector<std::string> state_names() const = 0;
  T* state(const std::string& name);
  const T* state(const std::string& name) const;
  void set_step_count(std::int64_t s);

 protected:
  // Contiguous runs covering [0, n) in order, each with one weight decay.
  struct Segment {
    std::size_t begin, end;
    double weight_decay;
  };
  virtual std::vector<T>* state_array(const std::string& name) = 0;
  void rebuild_segments();

  std::size_t n_;
  double lr_ = 1e-3;
  double default_wd_ = 0.0;
  std::int64_t step_ = 0;
  std::vector<ParamGroup> groups_;
  std::vector<Segment> segments_;
};

// torch.optim.AdamW (amsgrad = False, maximize = False). Defaults as torch: lr 1e-3,
// betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
//   t += 1; p *= 1 - lr·wd; m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²;
//   p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps)
template <class T>
class AdamW : public Optimizer<T> {
 public:
  explicit AdamW(std::size_t n);
  void set_betas(double beta1, double beta2);
  void set_eps(double eps);
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double eps() const { return eps_; }

  void step(T* params, const T* grads) override;
  std::vector<std::string> state_names() const override { return {"m", "v"}; }

 protected:
  std::vector<T>* state_array(const std::string& name) override;

 private:
  double beta1_ = 0.9, beta2_ = 0.999, eps_ = 1e-8;
  std::vector<T> m_, v_;
};

// torch.optim.SGD (maximize = False). Defaults: lr 1e-3, momentum 0, dampening 0, no nesterov,
// weight_decay 0.
//   d = g + wd·p; b = (t == 0 ? d : μ b + (1-dampening) d); d = nesterov ? d + μ b : b;
//   p -= lr · d
template <class T>
class SGD : public Optimizer<T> {
 public:
  explicit SGD(std::size_t n);
  void set_momentum(double momentum);
  void set_dampening(double dampening);
  void set_nesterov(bool nesterov);
  double momentum() const { return momentum_; }

  void step(T* params, const T* grads) override;
  std::vector<std::string> state_names() const override;

 protected:
  std::vector<T>* state_array(const std::string& name) override;

 private:
  double momentum_ = 0.0, dampening_ = 0.0;
  bool nesterov_ = false;
  std::vector<T> buf_;
};

// Gradient clipping by global 2-norm, split so that ranks holding different layers can sum
// grad_sq_norm over MPI before clipping. Sums run in double over fixed chunks, so the result
// does not depend on the thread count.
template <class T>
double grad_sq_norm(const T* grads, std::size_t n);
// |grad|² of each owned tensor of a ParamStore, indexed by registration (0 for the others): the
// global norm is their sum in index order, after a model split over ranks has summed the vector
// over its ranks (each entry non-zero on its owner only), so the norm is the same on every P.
// `v` is resized and overwritten (kept by the caller, so that a step allocates nothing).
template <class T>
void grad_sq_norm_by_tensor(const ParamStore<T>& p, std::vector<double>& v);
// Σ v[i] in index order.
double ordered_total(const std::vector<double>& v);
// torch.nn.utils.clip_grad_norm_ coefficient: min(1, max_norm / (norm + 1e-6)).
double clip_coefficient(double norm, double max_norm);
template <class T>
void scale_grads(T* grads, std::size_t n, double coef);
// Returns the norm before clipping; scales grads by clip_coefficient when it is below 1.
// A non-finite norm leaves grads untouched (the caller should skip the step).
template <class T>
double clip_grad_norm(T* grads, std::size_t n, double max_norm);

}  // namespace lpt
