#pragma once
// The common face of the four model families (GPT, BERT, ViT, translation): a ParamStore with the
// names of docs/parameters.md, an ODE step chain (model/blocks/ode_step.hpp) between an opening layer
// (embeddings / patches) and a closing layer (final LayerNorm, head, loss). The serial training
// step (train/train_step.hpp) and the MGRIT path see only this interface once a family's
// set_batch(...) has fixed the batch:
//
//   u0 = open_forward()            ->  u_{n+1} = steps().forward(n, h(n), u_n, ...)   ->
//   loss = close(u_N, λ_N)         ->  λ_n = steps().backward(n, h(n), u_n, ..., λ_{n+1}, ...)  ->
//   open_backward(λ_0)
//
// close() and open_backward() ACCUMULATE the gradients of the opening/closing parameters into
// params().grads(); the chain accumulates each layer's slice. See docs/families.md.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "input/batch.hpp"
#include "model/blocks/ode_step.hpp"
#include "model/blocks/ode_step_transformer.hpp"
#include "model/model_config.hpp"
#include "model/params.hpp"
#include "model/arena.hpp"

namespace lpt {

// Batches are the loaders' structs (input/batch.hpp), under the family names.
using GptBatch = LmBatch;
using BertBatch = MlmBatch;
using VitBatch = ImageBatch;
using MtBatch = Seq2SeqBatch;

// Metrics of the current batch after close(): the loss, and argmax accuracy over the positions
// that carry a target (ViT: images; BERT: masked positions; GPT and translation: tokens).
struct EvalCounts {
  double loss = 0;
  long long correct = 0, counted = 0;
  double accuracy() const { return counted ? double(correct) / double(counted) : 0.0; }
};

template <class T>
class Model {
 public:
  virtual ~Model() = default;
  virtual const char* family() const = 0;  // "gpt", "bert", "vit", "mt"

  ParamStore<T>& params() { return params_; }
  const ParamStore<T>& params() const { return params_; }
  const ModelConfig& config() const { return cfg_; }

  // GPT-2 style initialization from a seed (docs/families.md); deterministic. The residual
  // projections scale with ode_steps().
  void init(std::uint64_t seed);
  // N, the number of ODE steps: layers, or enc_layers + dec_layers for translation.
  int ode_steps() const;

  virtual OdeStep<T>& steps() = 0;
  // Step size of layer n (the same for every layer unless a family says otherwise).
  T h(int layer) const { return T(cfg_.h); }
  void set_h(double h) { cfg_.h = h; }

  // Dropout masks of the next step: a pure function of (seed, step); set before open_forward.
  void set_dropout_key(std::uint64_t seed, std::uint64_t step);
  // The key last set, so that a copy of the model in another precision draws the same masks.
  std::uint64_t dropout_seed() const { return sb_.dropout_seed; }
  std::uint64_t dropout_step() const { return sb_.dropout_step; }
  // Training (dropout on) or evaluation (off). Takes effect at the next set_batch.
  void set_train(bool train) { train_ = train; }
  bool train() const { return train_; }

  // After set_batch: elements of one state u_n.
  std::size_t state_size() { return steps().state_size(); }

  // u0[state_size()] = the opening layer applied to the batch (written): the family's embedding,
  // then the edge layers before the chain (model.edge_layers, exact, h = 1).
  void open_forward(T* u0);
  // Loss of the batch from the final state (through the edge layers after the chain, then the
  // family's head); lamN[state_size()] = dL/du_N (written) when non-null, and the closing
  // parameters' gradients accumulate (only when lamN is non-null).
  double close(const T* uN, T* lamN);
  // Opening parameters' gradients += (∂u0/∂θ)^T lam0 (edge layers, then the embedding).
  void open_backward(const T* lam0);
  // Ordinary transformer layers (h = 1) before and after the ODE chain, part of the opening and
  // closing (rank 0 computes them, outside MGRIT); their tensors are `edge.i.` (docs/parameters.md).
  int edge_before() const { return cfg_.edge_before; }
  int edge_after() const { return cfg_.edge_after; }

  // After close(): logits of the batch (gpt/bert: [B,T,V]; vit: [B,n_classes]; mt: [B,Tt,V_tgt])
  // and the metrics.
  virtual const T* logits() const = 0;
  virtual std::size_t logits_size() const = 0;
  virtual EvalCounts eval_counts() const = 0;

  // Elements of the family's own buffers (opening, closing, head) for the current batch.
  std::size_t work_elems() const { return work_.capacity(); }

 protected:
  explicit Model(const ModelConfig& cfg) : cfg_(cfg) {}
  // The family's own opening (embedding), closing (head and loss) and opening backward, as
  // open_forward, close and open_backward describe them without the edge layers.
  virtual void embed_forward(T* u0) = 0;
  virtual double head_close(const T* uN, T* lamN) = 0;
  virtual void embed_backward(const T* lam0) = 0;
  // Families with edge layers register `edge.i.` (register_edge_params, model/families/common.hpp)
  // and build their chain here, like the ODE chain's; set_edge_batch binds it with its batch.
  void build_edges(const TransformerStepsConfig& chain);
  void set_edge_batch(const StepBatch& b);
  // Makes the family's work arena hold at least n elements; reallocates only when it grows.
  void ensure_work(std::size_t n) {
    work_.reset();
    if (work_.capacity() < n) work_.reserve(n);
  }
  StepBatch& step_batch() { return sb_; }
  double dropout_now() const { return train_ ? cfg_.dropout : 0.0; }
  std::uint64_t embedding_key() const;

  ModelConfig cfg_;
  ParamStore<T> params_;
  std::unique_ptr<TransformerSteps<T>> edges_;
  std::vector<T> edge_states_, edge_lam_;  // the edge layers' inputs (kept for the backward), λ
  Arena<T> work_;
  StepBatch sb_;
  bool train_ = true;
};

// How a chain of layers runs outside training (evaluation, greedy decoding) when the layers may
// live on several ranks (adaptive/rank_runner.hpp); this default runs every layer here.
template <class T>
class LayerRunner {
 public:
  virtual ~LayerRunner() = default;
  // Whether this rank opens and closes: it holds u between calls and computes the loss.
  virtual bool root() const { return true; }
  // u (state_size elements, the root's) = layers [n0, n1) applied in order, in place.
  virtual void forward(Model<T>& m, T* u, int n0, int n1) {
    for (int n = n0; n < n1; ++n) m.steps().forward(n, m.h(n), u, u, nullptr);
  }
  // The root's `bytes` at p, copied to every rank.
  virtual void share(void* p, std::size_t bytes) {}
};

// Factory by family name ("gpt", "bert", "vit", "mt", or "bert_cls": BERT with the sequence
// classifier head); throws lpt::Error for an unknown name.
template <class T>
std::unique_ptr<Model<T>> make_model(const std::string& family, const ModelConfig& cfg);

}  // namespace lpt
