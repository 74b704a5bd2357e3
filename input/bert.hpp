#pragma once
// Masked-LM batches (BERT family). Two ways to cut the text into sequences:
//  - Lines: every line (verse) is a sequence of its own, split into pieces of at most seq_len
//    tokens when longer, padded with [PAD] to seq_len (key_mask 0 there);
//  - Windows: fixed windows of seq_len tokens of the stream of lines joined by '\n' (no padding).
// Masking (mlm_mask_row): each real position is selected with probability `select` (15 %), and
// at least one per sequence; a selected position becomes [MASK] with probability `mask` (80 %), a
// uniformly random non-special token with probability `random` (10 %), else stays (10 %); its
// target is the original id. Unselected and padding positions have target -100; padding is never
// selected. Training masks come from the loader's random stream; validation masks are fixed per
// sequence (seeded by split_seed and the sequence index), so every evaluation sees the same batch.
#include <cstdint>
#include <string>
#include <vector>

#include "input/batch.hpp"
#include "input/rng.hpp"
#include "input/split.hpp"
#include "input/tokenizer.hpp"

namespace lpt {

struct MlmRule {
  double select = 0.15, mask = 0.8, random = 0.1;
};

// One row in place: tokens[T] (original ids in, masked ids out), targets[T] out, key_mask[T] in.
// Random replacements are drawn from [random_lo, random_hi). Returns the number selected (>= 1
// when the row has a real position).
int mlm_mask_row(token_t* tokens, token_t* targets, const std::uint8_t* key_mask, int T,
                 const MlmRule& rule, token_t mask_id, token_t random_lo, token_t random_hi,
                 Rng& rng);

struct BertDataOptions {
  enum class Mode { lines, windows };
  Mode mode = Mode::lines;
  int batch = 8;
  int seq_len = 128;
  std::uint64_t seed = 0;
  double val_fraction = 0.05;
  std::uint64_t split_seed = 0;
  std::size_t split_block = 32;
  MlmRule rule;
};

class BertLoader {
 public:
  // tok must have [PAD] and [MASK]; random replacements are its non-special ids.
  BertLoader(const std::vector<std::string>& lines, const Tokenizer& tok, const BertDataOptions& o);

  // Next training batch: Lines mode visits the training sequences in a fresh seeded permutation
  // per epoch; Windows mode takes windows at uniformly random offsets.
  void next(MlmBatch& b);

  std::size_t val_sequences() const;
  std::size_t val_batches() const;
  void val_batch(std::size_t i, MlmBatch& b) const;  // fixed order and masks; last may be short

  std::size_t train_sequences() const;  // Lines mode: pieces; Windows mode: possible offsets
  const Split& split() const { return split_; }

  std::vector<std::uint64_t> state() const;
  void set_state(const std::vector<std::uint64_t>& s);

 private:
  struct Pieces {  // Lines mode: sequence k = tokens[start[k], start[k] + len[k])
    std::vector<token_t> tokens;
    std::vector<std::size_t> start;
    std::vector<int> len;
  };
  static Pieces cut(const std::vector<std::string>& lines, const std::vector<std::size_t>& which,
                    const Tokenizer& tok, int T);
  void fill_row(const token_t* src, int len, std::size_t row, MlmBatch& b, Rng& rng) const;

  BertDataOptions opt_;
  Split split_;
  Pieces train_, val_;                            // Lines mode
  std::vector<token_t> train_stream_, val_stream_;  // Windows mode
  token_t pad_ = 0, mask_ = 0, random_lo_ = 0, random_hi_ = 0;
  EpochOrder order_;
  Rng rng_;
  std::uint64_t config_ = 0;
};

}  // namespace lpt
