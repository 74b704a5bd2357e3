#pragma once
// Translation batches (encoder-decoder, teacher forcing) from the en_es verse pairs.
// Source: the source verse truncated to max_src tokens, padded with [PAD] (src_mask 0 there).
// Target: the sequence [BOS] y [EOS] cut to max_tgt + 1 tokens; tgt_in = all but its last token,
// tgt_out = all but its first, both padded to max_tgt ([PAD] in tgt_in, -100 in tgt_out). A
// target longer than max_tgt − 1 therefore loses its tail and its [EOS]. Shapes are fixed
// ([B, max_src], [B, max_tgt]) so that every step has the same layer-state size.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "input/batch.hpp"
#include "input/rng.hpp"
#include "input/split.hpp"
#include "input/text.hpp"
#include "input/tokenizer.hpp"

namespace lpt {

// Char-level tokenizers with specials [PAD] [BOS] [EOS] [UNK]. shared: one vocabulary built from
// both languages, used for source and target (the two returned tokenizers are equal); else the
// source one from the source side and the target one from the target side.
std::pair<Tokenizer, Tokenizer> translation_tokenizers(const PairSet& p, bool shared,
                                                       bool es_to_en = false);

struct TranslationDataOptions {
  int batch = 32;
  int max_src = 128, max_tgt = 128;
  bool es_to_en = false;  // default direction English → Spanish
  std::uint64_t seed = 0;
  double val_fraction = 0.05;
  std::uint64_t split_seed = 0;
};

// The train/validation split of n pairs that a TranslationLoader with options `o` uses; for
// whatever must be learned from the training pairs alone (a BPE vocabulary) before the loader
// exists.
Split translation_split(std::size_t n, const TranslationDataOptions& o);

// BPE tokenizers (specials [PAD] [BOS] [EOS] [UNK]) learned from the pairs `train` lists only, so
// that the validation pairs influence neither the merges nor the base characters (a character
// seen only in validation encodes to [UNK]). vocab_size counts every id, specials included.
// shared: one vocabulary learned from both sides' training text, used for source and target;
// else one per language, each with the whole vocab_size.
std::pair<Tokenizer, Tokenizer> translation_bpe_tokenizers(const PairSet& p,
                                                           const std::vector<std::size_t>& train,
                                                           int vocab_size, bool shared,
                                                           bool es_to_en = false);

class TranslationLoader {
 public:
  // src_tok needs [PAD]; tgt_tok needs [PAD] [BOS] [EOS].
  TranslationLoader(const PairSet& pairs, const Tokenizer& src_tok, const Tokenizer& tgt_tok,
                    const TranslationDataOptions& o);

  void next(Seq2SeqBatch& b);  // training pairs in a fresh seeded permutation per epoch

  std::size_t val_size() const { return split_.val.size(); }
  std::size_t val_batches() const;
  void val_batch(std::size_t i, Seq2SeqBatch& b) const;  // fixed order; last may be short
  // Untruncated text of validation pair k (row k % B of batch k / B), for BLEU and samples.
  const std::string& val_source(std::size_t k) const;
  const std::string& val_reference(std::size_t k) const;

  std::size_t train_size() const { return split_.train.size(); }
  const Split& split() const { return split_; }

  std::vector<std::uint64_t> state() const;
  void set_state(const std::vector<std::uint64_t>& s);

 private:
  void fill_row(std::size_t pair, Seq2SeqBatch& b, int row) const;
  TranslationDataOptions opt_;
  const std::vector<std::string>* src_text_;
  const std::vector<std::string>* tgt_text_;
  std::vector<token_t> src_tokens_, tgt_tokens_;     // all pairs, concatenated
  std::vector<std::size_t> src_start_, tgt_start_;   // pair k: [start[k], start[k + 1])
  token_t pad_ = 0, bos_ = 0, eos_ = 0;
  Split split_;
  EpochOrder order_;
  Rng rng_;
  std::uint64_t config_ = 0;
};

}  // namespace lpt
