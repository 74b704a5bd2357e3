#pragma once
// Deterministic GPT-2 style initialization of a ParamStore (docs/families.md):
//   LayerNorm scales (names ending "ln*_w", "ln_w") = 1; biases ("*_b", "mlm.bias") = 0;
//   residual projections ("attn.proj_w", "mlp.proj_w", "cross.proj_w") ~ N(0, (0.02/sqrt(2L))²)
//   with L = residual_layers (the number of ODE steps); every other tensor ~ N(0, 0.02²).
// Each tensor draws from its own stream, keyed by (seed, name), so adding or reordering tensors
// never changes the values of the others, and float and double stores get the same numbers
// (rounded). The normal deviates come from a counter hash and Box-Muller written here, not from
// std::normal_distribution, whose output differs between standard libraries.
#include <cstdint>
#include <string>

#include "model/params.hpp"

namespace lpt {

constexpr double kInitStd = 0.02;

// Fills every parameter of the store as above.
template <class T>
void init_gpt2(ParamStore<T>& params, std::uint64_t seed, int residual_layers);

// The std of a tensor under init_gpt2 (0 for constants), and its constant value otherwise.
double init_std(const std::string& name, int residual_layers);
double init_constant(const std::string& name);

}  // namespace lpt
