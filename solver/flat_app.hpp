#pragma once
// Ready-made App for states that are flat contiguous arrays of float or double (a transformer's
// B·T·d activations, an ODE's few unknowns): the application gives only step/backward callbacks.
#include <cstring>
#include <vector>

#include "solver/app.hpp"
#include "util/error.hpp"

namespace lpt::mgrit {

template <class T>
struct FlatVector : Vector {
  explicit FlatVector(std::size_t n = 0) : v(n, T(0)) {}
  std::vector<T> v;
};

template <class T>
FlatVector<T>& flat(Vector& x) {
  return static_cast<FlatVector<T>&>(x);
}
template <class T>
const FlatVector<T>& flat(const Vector& x) {
  return static_cast<const FlatVector<T>&>(x);
}

template <class T>
class FlatApp : public App {
 public:
  // out[0..n) = Φ(u[0..n))
  using StepFn = std::function<void(const StepInfo&, const T* u, T* out)>;
  // lam_out may be null (parameter gradient only); see App::backward.
  using BackwardFn = std::function<void(const StepInfo&, const T* u, const T* lam_next,
                                        T* lam_out, bool param_grad)>;
  using GuessFn = std::function<void(long n, const T* u0, T* u)>;

  FlatApp(std::size_t n, StepFn step, BackwardFn backward = {})
      : n_(n), step_(std::move(step)), backward_(std::move(backward)) {
    require(n_ > 0, "FlatApp: state size must be > 0");
    require(bool(step_), "FlatApp: a step callback is required");
  }
  void set_initial_guess(GuessFn g) { guess_ = std::move(g); }

  std::size_t size() const { return n_; }
  std::unique_ptr<FlatVector<T>> make(const T* data = nullptr) const {
    auto p = std::make_unique<FlatVector<T>>(n_);
    if (data) std::memcpy(p->v.data(), data, n_ * sizeof(T));
    return p;
  }

  VectorPtr alloc_like(const Vector&) const override { return std::make_unique<FlatVector<T>>(n_); }
  void copy(const Vector& x, Vector& y) const override { flat<T>(y).v = flat<T>(x).v; }
  void axpby(double a, const Vector& x, double b, Vector& y) const override {
    const T* xs = flat<T>(x).v.data();
    T* ys = flat<T>(y).v.data();
    const T ta = T(a), tb = T(b);
    for (std::size_t i = 0; i < n_; ++i) ys[i] = ta * xs[i] + tb * ys[i];
  }
  double norm_sq(const Vector& x) const override {
    const T* xs = flat<T>(x).v.data();
    double s = 0;
    for (std::size_t i = 0; i < n_; ++i) s += double(xs[i]) * double(xs[i]);
    return s;
  }
  std::size_t packed_bytes(const Vector&) const override { return n_ * sizeof(T); }
  void pack(const Vector& x, void* buf) const override {
    std::memcpy(buf, flat<T>(x).v.data(), n_ * sizeof(T));
  }
  void unpack(const void* buf, Vector& x) const override {
    std::memcpy(flat<T>(x).v.data(), buf, n_ * sizeof(T));
  }

  void step(const StepInfo& s, const Vector& u, Vector& out) override {
    step_(s, flat<T>(u).v.data(), flat<T>(out).v.data());
  }
  void backward(const StepInfo& s, const Vector& u, const Vector& lam_next, Vector* lam_out,
                bool param_grad) override {
    if (!backward_) App::backward(s, u, lam_next, lam_out, param_grad);
    backward_(s, flat<T>(u).v.data(), flat<T>(lam_next).v.data(),
              lam_out ? flat<T>(*lam_out).v.data() : nullptr, param_grad);
  }
  void init_guess(long n, const Vector& u0, Vector& u) const override {
    if (guess_)
      guess_(n, flat<T>(u0).v.data(), flat<T>(u).v.data());
    else
      copy(u0, u);
  }

 private:
  std::size_t n_;
  StepFn step_;
  BackwardFn backward_;
  GuessFn guess_;
};

}  // namespace lpt::mgrit
