#include "optim/optim.hpp"

#include <algorithm>
#include <cmath>

#include "model/params.hpp"
#include "util/error.hpp"

namespace lpt {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr std::size_t kParallelMin = 1 << 15;
// Fixed number of partial sums for norms: a thread-count independent summation order.
constexpr std::size_t kNormChunks = 256;
}  // namespace

// ---------------------------------------------------------------------------------------------
// Weight-decay grouping

bool exempt_from_decay(const std::string& name, const std::vector<int>& shape) {
  if (shape.size() <= 1) return true;
  static const char* const embeddings[] = {"wte", "wpe", "src_wte", "src_wpe",
                                           "tgt_wte", "tgt_wpe", "pos"};
  for (const char* e : embeddings)
    if (name == e) return true;
  return false;
}

std::vector<ParamGroup> no_decay_groups(const std::vector<ParamEntry>& entries) {
  std::vector<const ParamEntry*> sorted;
  for (const auto& e : entries)
    if (e.owned()) sorted.push_back(&e);  // the optimizer steps the owned part only
  std::sort(sorted.begin(), sorted.end(),
            [](const ParamEntry* a, const ParamEntry* b) { return a->offset < b->offset; });
  std::vector<ParamGroup> groups;
  bool previous_exempt = false;
  for (const ParamEntry* e : sorted) {
    const bool exempt = exempt_from_decay(e->name, e->shape);
    // Consecutive exempt tensors form one range (the alignment padding between them holds zeros
    // and zero gradients, so its decay does not matter): fewer, longer loops in step().
    if (exempt && previous_exempt)
      groups.back().end = e->offset + e->numel;
    else if (exempt)
      groups.push_back({e->offset, e->offset + e->numel, 0.0});
    previous_exempt = exempt;
  }
  return groups;
}

// ---------------------------------------------------------------------------------------------
// Optimizer: learning rate, weight-decay groups, state access.

template <class T>
Optimizer<T>::Optimizer(std::size_t n) : n_(n) {
  require(n > 0, "optimizer over an empty parameter buffer; register parameters first");
  rebuild_segments();
}

template <class T>
void Optimizer<T>::set_lr(double lr) {
  require(std::isfinite(lr) && lr >= 0, "learning rate must be finite and >= 0, got ", lr);
  lr_ = lr;
}

template <class T>
void Optimizer<T>::set_weight_decay(double wd) {
  require(std::isfinite(wd) && wd >= 0, "weight_decay must be finite and >= 0, got ", wd);
  default_wd_ = wd;
  rebuild_segments();
}

template <class T>
void Optimizer<T>::set_groups(const std::vector<ParamGroup>& groups) {
  std::vector<ParamGroup> g = groups;
  std::sort(g.begin(), g.end(),
            [](const ParamGroup& a, const ParamGroup& b) { return a.begin < b.begin; });
  for (std::size_t i = 0; i < g.size(); ++i) {
    require(g[i].begin < g[i].end && g[i].end <= n_, "parameter group [", g[i].begin, ", ",
            g[i].end, ") is empty or outside the buffer of ", n_, " elements");
    require(std::isfinite(g[i].weight_decay) && g[i].weight_decay >= 0,
            "parameter group [", g[i].begin, ", ", g[i].end, ") has weight_decay ",
            g[i].weight_decay, "; it must be finite and >= 0");
    require(i == 0 || g[i - 1].end <= g[i].begin, "parameter groups [", g[i - 1].begin, ", ",
            g[i - 1].end, ") and [", g[i].begin, ", ", g[i].end,
            ") overlap; each element may belong to one group");
  }
  groups_ = std::move(g);
  rebuild_segments();
}

template <class T>
void Optimizer<T>::rebuild_segments() {
  segments_.clear();
  std::size_t pos = 0;
  for (const auto& g : groups_) {
    if (pos < g.begin) segments_.push_back({pos, g.begin, default_wd_});
    segments_.push_back({g.begin, g.end, g.weight_decay});
    pos = g.end;
  }
  if (pos < n_) segments_.push_back({pos, n_, default_wd_});
}

template <class T>
double Optimizer<T>::weight_decay_at(std::size_t i) const {
  require(i < n_, "element ", i, " is outside the buffer of ", n_, " elements");
  for (const auto& s : segments_)
    if (i >= s.begin && i < s.end) return s.weight_decay;
  return default_wd_;
}

template <class T>
T* Optimizer<T>::state(const std::string& name) {
  std::vector<T>* a = state_array(name);
  require(a != nullptr, "optimizer has no state named '", name, "'");
  return a->data();
}

template <class T>
const T* Optimizer<T>::state(const std::string& name) const {
  return const_cast<Optimizer<T>*>(this)->state(name);
}

template <class T>
void Optimizer<T>::set_step_count(std::int64_t s) {
  require(s >= 0, "optimizer step count must be >= 0, got ", s);
  step_ = s;
}

// ---------------------------------------------------------------------------------------------
// AdamW

template <class T>
AdamW<T>::AdamW(std::size_t n) : Optimizer<T>(n), m_(n, T(0)), v_(n, T(0)) {
  this->default_wd_ = 1e-2;
  this->rebuild_segments();
}

template <class T>
void AdamW<T>::set_betas(double beta1, double beta2) {
  require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
          "AdamW betas must lie in [0, 1), got (", beta1, ", ", beta2, ")");
  beta1_ = beta1;
  beta2_ = beta2;
}

template <class T>
void AdamW<T>::set_eps(double eps) {
  require(eps >= 0 && std::isfinite(eps), "AdamW eps must be finite and >= 0, got ", eps);
  eps_ = eps;
}

template <class T>
std::vector<T>* AdamW<T>::state_array(const std::string& name) {
  if (name == "m") return &m_;
  if (name == "v") return &v_;
  return nullptr;
}

template <class T>
void AdamW<T>::step(T* params, const T* grads) {
  const std::int64_t t = ++this->step_;
  // Scalars in double as torch computes them in Python, then rounded to T once.
  const double lr = this->lr_;
  const double bc1 = 1.0 - std::pow(beta1_, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(beta2_, static_cast<double>(t));
  const T step_size = static_cast<T>(lr / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T b1 = static_cast<T>(beta1_), one_b1 = static_cast<T>(1.0 - beta1_);
  const T b2 = static_cast<T>(beta2_), one_b2 = static_cast<T>(1.0 - beta2_);
  const T eps = static_cast<T>(eps_);
  T* m = m_.data();
  T* v = v_.data();
#pragma omp parallel if (this->n_ >= kParallelMin)
  for (const auto& s : this->segments_) {
    const T decay = static_cast<T>(1.0 - lr * s.weight_decay);
    const std::ptrdiff_t b = static_cast<std::ptrdiff_t>(s.begin);
    const std::ptrdiff_t e = static_cast<std::ptrdiff_t>(s.end);
#pragma omp for schedule(static) nowait
    for (std::ptrdiff_t i = b; i < e; ++i) {
      const T g = grads[i];
      const T p = params[i] * decay;
      const T mi = m[i] * b1 + one_b1 * g;
      const T vi = v[i] * b2 + one_b2 * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = p - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// SGD

template <class T>
SGD<T>::SGD(std::size_t n) : Optimizer<T>(n) {}

template <class T>
void SGD<T>::set_momentum(double momentum) {
  require(momentum >= 0 && std::isfinite(momentum), "SGD momentum must be >= 0, got ", momentum);
  require(!nesterov_ || momentum > 0, "nesterov needs momentum > 0; set momentum first");
  momentum_ = momentum;
  if (momentum_ > 0 && buf_.size() != this->n_) buf_.assign(this->n_, T(0));
}

template <class T>
void SGD<T>::set_dampening(double dampening) {
  require(dampening >= 0 && dampening <= 1, "SGD dampening must lie in [0, 1], got ", dampening);
  require(!nesterov_ || dampening == 0, "nesterov needs dampening 0 (as torch.optim.SGD)");
  dampening_ = dampening;
}

template <class T>
void SGD<T>::set_nesterov(bool nesterov) {
  require(!nesterov || (momentum_ > 0 && dampening_ == 0),
          "nesterov needs momentum > 0 and dampening 0 (as torch.optim.SGD); set momentum first");
  nesterov_ = nesterov;
}

template <class T>
std::vector<std::string> SGD<T>::state_names() const {
  if (momentum_ > 0) return {"momentum_buffer"};
  return {};
}

template <class T>
std::vector<T>* SGD<T>::state_array(const std::string& name) {
  if (name == "momentum_buffer" && momentum_ > 0) return &buf_;
  return nullptr;
}

template <class T>
void SGD<T>::step(T* params, const T* grads) {
  // torch seeds the buffer with the first gradient (no dampening); a restored run continues
  // from step_count, so "first" means step_count == 0, not "buffer is zero".
  const bool first = this->step_ == 0;
  ++this->step_;
  const T lr = static_cast<T>(this->lr_);
  const T mu = static_cast<T>(momentum_);
  const T one_damp = static_cast<T>(1.0 - dampening_);
  const bool use_buf = momentum_ > 0;
  const bool nesterov = nesterov_;
  T* buf = buf_.data();
#pragma omp parallel if (this->n_ >= kParallelMin)
  for (const auto& s : this->segments_) {
    const T wd = static_cast<T>(s.weight_decay);
    const std::ptrdiff_t b = static_cast<std::ptrdiff_t>(s.begin);
    const std::ptrdiff_t e = static_cast<std::ptrdiff_t>(s.end);
#pragma omp for schedule(static) nowait
    for (std::ptrdiff_t i = b; i < e; ++i) {
      T d = grads[i];
      if (s.weight_decay != 0) d = d + wd * params[i];
      if (use_buf) {
        const T bi = first ? d : buf[i] * mu + one_damp * d;
        buf[i] = bi;
        d = nesterov ? d + mu * bi : bi;
      }
      params[i] = params[i] - lr * d;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Gradient clipping

template <class T>
double grad_sq_norm(const T* grads, std::size_t n) {
  double partial[kNormChunks];
  const std::size_t chunk = (n + kNormChunks - 1) / kNormChunks;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::ptrdiff_t c = 0; c < static_cast<std::ptrdiff_t>(kNormChunks); ++c) {
    const std::size_t b = std::min(n, static_cast<std::size_t>(c) * chunk);
    const std::size_t e = std::min(n, b + chunk);
    // Eight independent accumulators: one running sum is a latency-bound chain of dependent
    // adds; eight lanes, combined in a fixed order, keep the result deterministic.
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t i = b;
    for (; i + 8 <= e; i += 8)
      for (int k = 0; k < 8; ++k) s[k] += static_cast<double>(grads[i + k]) * grads[i + k];
    for (; i < e; ++i) s[0] += static_cast<double>(grads[i]) * grads[i];
    partial[c] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

template <class T>
void grad_sq_norm_by_tensor(const ParamStore<T>& p, std::vector<double>& v) {
  v.assign(p.entries().size(), 0.0);
  for (const ParamEntry& e : p.entries())
    if (e.owned()) v[e.index] = grad_sq_norm(p.grads() + e.offset, e.numel);
}

double ordered_total(const std::vector<double>& v) {
  double total = 0;
  for (double x : v) total += x;
  return total;
}

double clip_coefficient(double norm, double max_norm) {
  require(max_norm > 0, "max gradient norm must be > 0, got ", max_norm,
          "; use a non-positive value only to mean 'no clipping' and skip the call");
  return std::min(1.0, max_norm / (norm + 1e-6));
}

template <class T>
void scale_grads(T* grads, std::size_t n, double coef) {
  const T c = static_cast<T>(coef);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) grads[i] *= c;
}

template <class T>
double clip_grad_norm(T* grads, std::size_t n, double max_norm) {
  const double norm = std::sqrt(grad_sq_norm(grads, n));
  if (!std::isfinite(norm)) return norm;
  const double coef = clip_coefficient(norm, max_norm);
  if (coef < 1.0) scale_grads(grads, n, coef);
  return norm;
}

template class Optimizer<float>;
template class Optimizer<double>;
template class AdamW<float>;
template class AdamW<double>;
template class SGD<float>;
template class SGD<double>;
template double grad_sq_norm<float>(const float*, std::size_t);
template double grad_sq_norm<double>(const double*, std::size_t);
template void grad_sq_norm_by_tensor<float>(const ParamStore<float>&, std::vector<double>&);
template void grad_sq_norm_by_tensor<double>(const ParamStore<double>&, std::vector<double>&);
template void scale_grads<float>(float*, std::size_t, double);
template void scale_grads<double>(double*, std::size_t, double);
template double clip_grad_norm<float>(float*, std::size_t, double);
template double clip_grad_norm<double>(double*, std::size_t, double);

}  // namespace lpt
