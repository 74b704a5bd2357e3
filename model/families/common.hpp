#pragma once
// Pieces the family classes share: the tied language-model head (final LayerNorm, logits against
// an embedding matrix, cross-entropy) used by GPT and translation, buffer carving from the
// family's work arena, and batch checks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "input/batch.hpp"
#include "model/model.hpp"
#include "model/blocks/ode_step_transformer.hpp"
#include "model/params.hpp"
#include "model/arena.hpp"

namespace lpt {

// Sum of Arena footprints of the given sizes: what carving them one after another takes.
template <class T>
std::size_t footprint_sum(std::initializer_list<std::size_t> sizes) {
  std::size_t s = 0;
  for (std::size_t n : sizes) s += Arena<T>::footprint(n);
  return s;
}

// Head: x = LN(u) [N,d]; logits = x · W[V,d]^T [N,V]; loss = CE(logits, targets).
template <class T>
struct LmHead {
  int N = 0, d = 0, V = 0;
  T *x = nullptr, *mean = nullptr, *rstd = nullptr, *logits = nullptr, *dlogits = nullptr;
  T *losses = nullptr, *lse = nullptr, *dx = nullptr;

  static std::size_t elems(int N, int d, int V);
  void carve(Arena<T>& a, int N, int d, int V);
  // Returns the mean loss over targets != -100 (label smoothing ε).
  double forward(const T* u, const T* ln_w, const T* ln_b, const T* W, const token_t* targets,
                 double eps);
  // lam[N,d] = dloss/du (written); gradients of ln_w, ln_b, W accumulate (any may be null).
  void backward(const T* u, const T* ln_w, const T* W, const token_t* targets, double eps, T* lam,
                T* g_ln_w, T* g_ln_b, T* g_W);
};

// GPT and BERT open the same way: wte [V,d], wpe [max_len,d], the edge layers before the chain,
// the layers `layers.n.`, the edge layers after it, then lnf_w, lnf_b (docs/parameters.md); the
// caller adds its head and finalizes.
template <class T>
void register_token_lm_params(ParamStore<T>& p, const ModelConfig& cfg);
// Ordinary layers `edge.i.` around the chain (ModelConfig::edge_before/after): the first
// edge_before (before_chain) or the last edge_after; register them around the chain's.
template <class T>
void register_edge_params(ParamStore<T>& p, const ModelConfig& cfg, bool before_chain);
// Their opening layer on a token batch [B, T]: u0 = dropout(wte[tokens] + wpe[positions]) with
// the embedding's dropout key and probability, and its backward into wte and wpe (dscratch:
// B·T·d elements, used only when dropout > 0).
template <class T>
void token_open_forward(const ParamStore<T>& p, const ModelConfig& cfg, const token_t* tokens,
                        int B, int len, std::uint64_t key, double dropout, T* u0);
template <class T>
void token_open_backward(ParamStore<T>& p, const ModelConfig& cfg, const token_t* tokens, int B,
                         int len, std::uint64_t key, double dropout, const T* lam0, T* dscratch);
// The step chain of GPT (causal) or BERT (key padding) for those layers.
TransformerStepsConfig token_lm_steps_config(const ModelConfig& cfg, bool causal);
// Checks of a token batch: B, T >= 1, T <= max_len, tokens/targets of B*T entries, ids in
// [0, vocab) (targets may be -100), and at least one target. `what` prefixes every message.
void check_token_batch(const char* what, int B, int T, const ModelConfig& cfg,
                       const std::vector<token_t>& tokens, const std::vector<token_t>& targets);

// Throws lpt::Error unless every id in ids[n] is in [0, V) (or == -100 when allow_ignore). The
// message names `what` (and `field` after a colon, when given); nothing is allocated unless it
// throws, since batches are checked on every step.
void check_ids(const char* what, const token_t* ids, std::size_t n, int V, bool allow_ignore,
               const char* field = nullptr);
// Throws unless some target != -100 (the loss of a batch without targets is undefined).
void check_has_target(const char* what, const token_t* targets, std::size_t n);

}  // namespace lpt
