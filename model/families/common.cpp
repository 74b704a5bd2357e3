#include "model/families/common.hpp"

#include <memory>

#include "model/families/bert.hpp"
#include "model/families/bert_classifier.hpp"
#include "model/families/gpt.hpp"
#include "model/families/mt.hpp"
#include "model/families/vit.hpp"
#include "model/blocks/dropout.hpp"
#include "model/init.hpp"
#include "model/model.hpp"
#include "model/ops/cross_entropy.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/embedding.hpp"
#include "model/ops/layernorm.hpp"
#include "model/ops/linear.hpp"

namespace lpt {

template <class T>
std::size_t LmHead<T>::elems(int N, int d, int V) {
  const std::size_t nd = std::size_t(N) * d, nv = std::size_t(N) * V;
  return footprint_sum<T>({nd, std::size_t(N), std::size_t(N), nv, nv, std::size_t(N),
                           std::size_t(N), nd});
}

template <class T>
void LmHead<T>::carve(Arena<T>& a, int N_, int d_, int V_) {
  N = N_, d = d_, V = V_;
  const std::size_t nd = std::size_t(N) * d, nv = std::size_t(N) * V;
  x = a.alloc(nd);
  mean = a.alloc(N);
  rstd = a.alloc(N);
  logits = a.alloc(nv);
  dlogits = a.alloc(nv);
  losses = a.alloc(N);
  lse = a.alloc(N);
  dx = a.alloc(nd);
}

template <class T>
double LmHead<T>::forward(const T* u, const T* ln_w, const T* ln_b, const T* W,
                          const token_t* targets, double eps) {
  ops::layernorm_forward(x, mean, rstd, u, ln_w, ln_b, N, d);
  ops::linear_forward<T>(logits, x, W, nullptr, N, d, V);
  return ops::cross_entropy_forward(losses, lse, logits, targets, N, V, eps);
}

template <class T>
void LmHead<T>::backward(const T* u, const T* ln_w, const T* W, const token_t* targets,
                         double eps, T* lam, T* g_ln_w, T* g_ln_b, T* g_W) {
  const std::size_t nd = std::size_t(N) * d;
  ops::zero(dlogits, std::size_t(N) * V);
  ops::cross_entropy_backward(dlogits, logits, lse, targets, N, V, 1.0, eps);
  ops::zero(dx, nd);
  ops::linear_backward<T>(dx, g_W, nullptr, dlogits, x, W, N, d, V);
  ops::zero(lam, nd);
  ops::layernorm_backward(lam, g_ln_w, g_ln_b, dx, u, ln_w, mean, rstd, N, d);
}

void check_ids(const char* what, const token_t* ids, std::size_t n, int V, bool allow_ignore,
               const char* field) {
  for (std::size_t i = 0; i < n; ++i) {
    const bool ok = (ids[i] >= 0 && ids[i] < V) || (allow_ignore && ids[i] == kIgnoreIndex);
    require(ok, what, field ? ": " : "", field ? field : "", "[", i, "] = ", ids[i], " is outside [0, ", V, ")",
            allow_ignore ? " and is not -100" : "", "; check the vocabulary size in the config");
  }
}

void check_has_target(const char* what, const token_t* targets, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (targets[i] != kIgnoreIndex) return;
  fail(what, ": every target is -100, so the loss is undefined; the batch needs a target");
}

template <class T>
void register_token_lm_params(ParamStore<T>& p, const ModelConfig& cfg) {
  const LayerDims dims{cfg.d_model, cfg.heads, cfg.d_ff};
  p.add("wte", {cfg.vocab, cfg.d_model});
  p.add("wpe", {cfg.max_len, cfg.d_model});
  register_edge_params(p, cfg, true);
  for (int n = 0; n < cfg.layers; ++n)
    register_layer_params(p, "layers." + std::to_string(n) + ".", dims, false);
  register_edge_params(p, cfg, false);
  p.add("lnf_w", {cfg.d_model});
  p.add("lnf_b", {cfg.d_model});
}
template <class T>
void register_edge_params(ParamStore<T>& p, const ModelConfig& cfg, bool before_chain) {
  const LayerDims dims{cfg.d_model, cfg.heads, cfg.d_ff};
  const int b = cfg.edge_before, a = cfg.edge_after;
  require(b >= 0 && a >= 0, "model.edge_layers must be >= 0, got [", b, ", ", a, "]");
  const int lo = before_chain ? 0 : b, hi = before_chain ? b : b + a;
  for (int i = lo; i < hi; ++i)
    register_layer_params(p, "edge." + std::to_string(i) + ".", dims, false);
}
template void register_edge_params<float>(ParamStore<float>&, const ModelConfig&, bool);
template void register_edge_params<double>(ParamStore<double>&, const ModelConfig&, bool);

template void register_token_lm_params<float>(ParamStore<float>&, const ModelConfig&);
template void register_token_lm_params<double>(ParamStore<double>&, const ModelConfig&);

template <class T>
void token_open_forward(const ParamStore<T>& p, const ModelConfig& cfg, const token_t* tokens,
                        int B, int len, std::uint64_t key, double dropout, T* u0) {
  const int d = cfg.d_model;
  ops::embedding_forward(u0, tokens, p.value("wte"), p.value("wpe"), B, len, d, cfg.vocab);
  dropout_inplace(u0, std::size_t(B) * len * d, key, dropout);
}

template <class T>
void token_open_backward(ParamStore<T>& p, const ModelConfig& cfg, const token_t* tokens, int B,
                         int len, std::uint64_t key, double dropout, const T* lam0, T* dscratch) {
  const int d = cfg.d_model;
  const std::size_t n = std::size_t(B) * len * d;
  const T* g = lam0;
  if (dropout > 0) {
    ops::copy(dscratch, lam0, n);
    dropout_inplace(dscratch, n, key, dropout);
    g = dscratch;
  }
  ops::embedding_backward(p.grad("wte"), p.grad("wpe"), g, tokens, B, len, d, cfg.vocab);
}

template void token_open_forward<float>(const ParamStore<float>&, const ModelConfig&,
                                        const token_t*, int, int, std::uint64_t, double, float*);
template void token_open_forward<double>(const ParamStore<double>&, const ModelConfig&,
                                         const token_t*, int, int, std::uint64_t, double, double*);
template void token_open_backward<float>(ParamStore<float>&, const ModelConfig&, const token_t*,
                                         int, int, std::uint64_t, double, const float*, float*);
template void token_open_backward<double>(ParamStore<double>&, const ModelConfig&, const token_t*,
                                          int, int, std::uint64_t, double, const double*,
                                          double*);

TransformerStepsConfig token_lm_steps_config(const ModelConfig& cfg, bool causal) {
  TransformerStepsConfig sc;
  sc.dims = LayerDims{cfg.d_model, cfg.heads, cfg.d_ff};
  sc.layers = cfg.layers;
  sc.causal = causal;
  sc.dropout = cfg.dropout;
  return sc;
}

void check_token_batch(const char* what, int B, int T, const ModelConfig& c,
                       const std::vector<token_t>& tokens, const std::vector<token_t>& targets) {
  require(B >= 1 && T >= 1, what, ": B and T must be >= 1, got B=", B, " T=", T);
  require(T <= c.max_len, what, ": sequence length ", T, " exceeds max_len ", c.max_len,
          "; raise model.max_len or shorten the sequences");
  const std::size_t n = std::size_t(B) * T;
  require(tokens.size() == n && targets.size() == n, what, ": tokens/targets must have B*T = ",
          n, " entries, got ", tokens.size(), " and ", targets.size());
  check_ids(what, tokens.data(), n, c.vocab, false, "tokens");
  check_ids(what, targets.data(), n, c.vocab, true, "targets");
  check_has_target(what, targets.data(), n);
}

// ---- Model<T> members shared by every family.

template <class T>
void Model<T>::build_edges(const TransformerStepsConfig& chain) {
  if (cfg_.edge_before + cfg_.edge_after == 0) return;
  TransformerStepsConfig c = chain;
  c.layers = cfg_.edge_before + cfg_.edge_after;
  c.prefix = "edge.";
  c.key_layer = 1 << 20;  // dropout masks of their own, never a chain layer's
  edges_ = std::make_unique<TransformerSteps<T>>(params_, c);
}

template <class T>
void Model<T>::set_edge_batch(const StepBatch& b) {
  if (!edges_) return;
  edges_->set_batch(b);
  const std::size_t S = edges_->state_size();
  const std::size_t n = std::size_t(std::max(cfg_.edge_before, cfg_.edge_after) + 1) * S;
  if (edge_states_.size() < n) edge_states_.resize(n);
  if (edge_lam_.size() < S) edge_lam_.resize(S);
}

// The edge layers are ordinary layers of step 1 on the state; their inputs are kept (in
// edge_states_) for the backward, which recomputes each layer's tape from them.
template <class T>
void Model<T>::open_forward(T* u0) {
  embed_forward(u0);
  const int b = cfg_.edge_before;
  if (!edges_ || b == 0) return;
  const std::size_t S = edges_->state_size();
  T* st = edge_states_.data();
  std::copy(u0, u0 + S, st);
  for (int i = 0; i < b; ++i) edges_->forward(i, T(1), st + i * S, st + (i + 1) * S, nullptr);
  std::copy(st + b * S, st + (b + 1) * S, u0);
}

template <class T>
void Model<T>::open_backward(const T* lam0) {
  const int b = cfg_.edge_before;
  if (!edges_ || b == 0) return embed_backward(lam0);
  // The opening's states are recomputed: between open_forward and here the closing edge layers
  // may have overwritten the shared buffer.
  const std::size_t S = edges_->state_size();
  T* st = edge_states_.data();
  embed_forward(st);
  for (int i = 0; i < b; ++i) edges_->forward(i, T(1), st + i * S, st + (i + 1) * S, nullptr);
  T* lam = edge_lam_.data();
  std::copy(lam0, lam0 + S, lam);
  T* g = params_.grads();
  for (int i = b - 1; i >= 0; --i)
    edges_->backward(i, T(1), st + i * S, nullptr, lam, lam, g + edges_->param_offset(i));
  embed_backward(lam);
}

template <class T>
double Model<T>::close(const T* uN, T* lamN) {
  const int b = cfg_.edge_before, a = cfg_.edge_after;
  if (!edges_ || a == 0) return head_close(uN, lamN);
  const std::size_t S = edges_->state_size();
  T* st = edge_states_.data();
  std::copy(uN, uN + S, st);
  for (int j = 0; j < a; ++j) edges_->forward(b + j, T(1), st + j * S, st + (j + 1) * S, nullptr);
  const double loss = head_close(st + a * S, lamN);
  if (!lamN) return loss;
  T* g = params_.grads();
  for (int j = a - 1; j >= 0; --j)
    edges_->backward(b + j, T(1), st + j * S, nullptr, lamN, lamN, g + edges_->param_offset(b + j));
  return loss;
}

template <class T>
void Model<T>::init(std::uint64_t seed) {
  init_gpt2(params_, seed, ode_steps());
}

template <class T>
int Model<T>::ode_steps() const {
  // By family, not the sum of every depth field: a config that carries another family's depths
  // (the run config once did: enc/dec_layers 3 beside a GPT's layers) must not change the scale.
  return std::string(family()) == "mt" ? cfg_.enc_layers + cfg_.dec_layers : cfg_.layers;
}

template <class T>
void Model<T>::set_dropout_key(std::uint64_t seed, std::uint64_t step) {
  sb_.dropout_seed = seed;
  sb_.dropout_step = step;
}

template <class T>
std::uint64_t Model<T>::embedding_key() const {
  return dropout_key(sb_.dropout_seed, sb_.dropout_step, 0, ops::kDropEmbedding);
}

template <class T>
std::unique_ptr<Model<T>> make_model(const std::string& family, const ModelConfig& cfg) {
  if (family == "gpt") return std::make_unique<GptModel<T>>(cfg);
  if (family == "bert") return std::make_unique<BertModel<T>>(cfg);
  if (family == "vit") return std::make_unique<VitModel<T>>(cfg);
  if (family == "mt") return std::make_unique<MtModel<T>>(cfg);
  if (family == "bert_cls") return std::make_unique<BertClassifier<T>>(cfg);
  fail("unknown model family '", family, "'; use gpt, bert, vit, mt or bert_cls");
}

template struct LmHead<float>;
template struct LmHead<double>;
template class Model<float>;
template class Model<double>;
template std::unique_ptr<Model<float>> make_model<float>(const std::string&, const ModelConfig&);
template std::unique_ptr<Model<double>> make_model<double>(const std::string&, const ModelConfig&);

}  // namespace lpt
