#pragma once
// Translation, encoder-decoder with teacher forcing (docs/parameters.md), as one ODE on the
// stacked state Z = [X (B·Ts·d), Y (B·Tt·d)] (model/blocks/ode_step_translation.hpp):
// X0 = src_wte[src] + src_wpe, Y0 = tgt_wte[tgt_in] + tgt_wpe (each with embedding dropout),
// N_enc encoder steps then N_dec decoder steps, logits = LNf(Y_final) tgt_wte^T, mean
// cross-entropy over tgt_out != -100 with label smoothing.
#include <memory>
#include <vector>

#include "model/families/common.hpp"
#include "model/model.hpp"
#include "model/blocks/ode_step_translation.hpp"

namespace lpt {

template <class T>
class MtModel : public Model<T> {
 public:
  // Needs d_model, heads, d_ff, enc_layers, dec_layers, src_vocab, src_max_len, tgt_vocab,
  // tgt_max_len.
  explicit MtModel(const ModelConfig& cfg);
  const char* family() const override { return "mt"; }

  // src/src_mask [B,Ts], tgt_in/tgt_out [B,Tt]; referenced until the step is over.
  void set_batch(const MtBatch& b);

  OdeStep<T>& steps() override { return *steps_; }
  std::size_t source_size() const { return steps_->source_size(); }
  void embed_forward(T* u0) override;
  double head_close(const T* uN, T* lamN) override;  // λ_N's X block is 0 (the loss sees only Y)
  void embed_backward(const T* lam0) override;
  const T* logits() const override { return head_.logits; }
  std::size_t logits_size() const override { return std::size_t(head_.N) * head_.V; }
  EvalCounts eval_counts() const override;  // token accuracy over tgt_out != -100

  // Greedy decoding without dropout: src/src_mask [B,Ts]; returns [B, max_len] target ids, each
  // row bos excluded, ending at the first eos (kept) and filled with eos after it. The encoder
  // runs once; the decoder reruns on the growing prefix. Rebinds the model to internal batches,
  // so call set_batch again before training. `run`: how the layers run (null: all here; a
  // model split over ranks: every rank calls with the same arguments and gets the same result).
  std::vector<token_t> greedy_decode(const std::vector<token_t>& src,
                                     const std::vector<std::uint8_t>& src_mask, int B, int Ts,
                                     int max_len, token_t bos, token_t eos,
                                     LayerRunner<T>* run = nullptr);

 private:
  void bind(const MtBatch& b, bool need_targets);
  std::uint64_t target_embedding_key() const;

  std::unique_ptr<TranslationSteps<T>> steps_;
  const MtBatch* batch_ = nullptr;
  LmHead<T> head_;
  T* dscratch_ = nullptr;  // [state] λ0 through the embedding dropout
  double loss_ = 0;
};

}  // namespace lpt
