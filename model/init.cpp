#include "model/init.hpp"

#include <algorithm>
#include <cmath>


namespace lpt {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
// The part after the last layer prefix ("layers.3.ln1_w" -> "ln1_w").
std::string leaf(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}
bool is_layernorm_scale(const std::string& name) {
  const std::string l = leaf(name);
  return l.compare(0, 2, "ln") == 0 && ends_with(l, "_w");
}
bool is_bias(const std::string& name) { return ends_with(name, "_b") || ends_with(name, ".bias"); }
bool is_residual_projection(const std::string& name) {
  return ends_with(name, "attn.proj_w") || ends_with(name, "mlp.proj_w") ||
         ends_with(name, "cross.proj_w");
}
// SplitMix64 (Steele et al.): a counter hash with full avalanche, kept here so that init values
// never change when the dropout hash does.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
std::uint64_t hash_name(const std::string& s) {  // FNV-1a
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}
// Uniform in (0, 1] from 53 bits of a counter hash.
double uniform(std::uint64_t key, std::uint64_t i) {
  return (double(splitmix64(key + i) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

}  // namespace

double init_constant(const std::string& name) { return is_layernorm_scale(name) ? 1.0 : 0.0; }

double init_std(const std::string& name, int residual_layers) {
  if (is_layernorm_scale(name) || is_bias(name)) return 0.0;
  if (is_residual_projection(name)) return kInitStd / std::sqrt(2.0 * std::max(1, residual_layers));
  return kInitStd;
}

template <class T>
void init_gpt2(ParamStore<T>& params, std::uint64_t seed, int residual_layers) {
  // Each value is a function of (seed, name, index): a rank that holds some tensors draws exactly
  // the values the whole model has there.
  for (const ParamEntry& e : params.entries()) {
    if (!e.present()) continue;
    T* v = params.values() + e.offset;
    const double sd = init_std(e.name, residual_layers);
    if (sd == 0.0) {
      const T c = T(init_constant(e.name));
      for (std::size_t i = 0; i < e.numel; ++i) v[i] = c;
      continue;
    }
    const std::uint64_t key = splitmix64(seed ^ hash_name(e.name));
    for (std::size_t i = 0; i < e.numel; ++i) {  // Box-Muller, one deviate per pair of draws
      const double r = std::sqrt(-2.0 * std::log(uniform(key, 2 * i)));
      const double a = 6.283185307179586 * uniform(key, 2 * i + 1);
      v[i] = T(sd * r * std::cos(a));
    }
  }
}

template void init_gpt2<float>(ParamStore<float>&, std::uint64_t, int);
template void init_gpt2<double>(ParamStore<double>&, std::uint64_t, int);

}  // namespace lpt
