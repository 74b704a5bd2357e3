#pragma once
// Shared by the layer and ODE-step tests: random parameter stores with the names of
// docs/parameters.md, aligned buffers, and the "apply a random projection" gradient checks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/blocks/layer.hpp"
#include "model/blocks/ode_step.hpp"
#include "model/params.hpp"
#include "model/arena.hpp"
#include "tests/gradcheck.hpp"

namespace lpt::test {

// LayerNorm scales near 1, shifts and weights O(1/sqrt(fan_in)) so activations stay O(1) and the
// finite differences see curvature of every part.
template <class T>
void fill_params(ParamStore<T>& ps, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  for (const auto& e : ps.entries()) {
    T* v = ps.value(e.name);
    const bool ln = e.name.find("ln") != std::string::npos && e.name.back() == 'w' &&
                    e.shape.size() == 1;
    const double fan_in = e.shape.size() == 2 ? e.shape[1] : 1.0;
    const double s = e.shape.size() == 2 ? 0.8 / std::sqrt(fan_in) : 0.2;
    for (std::size_t i = 0; i < e.numel; ++i) v[i] = T((ln ? 1.0 : 0.0) + s * nd(rng));
  }
}

// Tail padding per sequence (sequence r drops r % len tokens, keeps at least one).
inline std::vector<std::uint8_t> tail_mask(int B, int len) {
  std::vector<std::uint8_t> m(std::size_t(B) * len, 1);
  for (int b = 0; b < B; ++b)
    for (int j = len - (b % len); j < len; ++j) m[std::size_t(b) * len + j] = 0;
  return m;
}

// A 64-byte aligned buffer (as the solver's Arena gives), zero-filled.
template <class T>
struct Aligned {
  Arena<T> arena;
  T* p = nullptr;
  std::size_t n = 0;
  explicit Aligned(std::size_t count) : arena(count ? count : 1), n(count) {
    p = arena.alloc(count ? count : 1);
    std::fill(p, p + (count ? count : 1), T(0));
  }
  T* data() { return p; }
};

// Gradient check of one step: loss = <w, forward(layer, h, u)> against backward w.r.t. the state
// and the layer's parameter slice. Returns {state rel error, param rel error}.
inline std::pair<double, double> check_step(OdeStep<double>& step, ParamStore<double>& ps, int layer,
                                            double h, unsigned seed) {
  const std::size_t n = step.state_size();
  std::vector<double> u = random_vector(n, seed);
  const std::vector<double> w = random_vector(n, seed + 1);
  std::vector<double> out(n), lam(n, 0.0);
  Aligned<double> tape(step.tape_size(layer));
  step.forward(layer, h, u.data(), out.data(), tape.data());
  const std::size_t off = step.param_offset(layer), np = step.param_count(layer);
  std::vector<double> dtheta(np, 0.0);
  step.backward(layer, h, u.data(), tape.data(), w.data(), lam.data(), dtheta.data());
  auto loss = [&] {
    std::vector<double> o(n);
    step.forward(layer, h, u.data(), o.data(), nullptr);
    return dot(o.data(), w.data(), n);
  };
  const double es = grad_check(u.data(), n, lam, loss).rel_error;
  const double ep = grad_check(ps.values() + off, np, dtheta, loss).rel_error;
  return {es, ep};
}

}  // namespace lpt::test
