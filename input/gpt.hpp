#pragma once
// Language-model batches (GPT family): random windows of seq_len + 1 tokens from the training
// stream give tokens = window[0..T) and targets = window[1..T]. The stream is the training lines
// in their original order, each followed by '\n', encoded with the run's tokenizer.
#include <cstdint>
#include <string>
#include <vector>

#include "input/batch.hpp"
#include "input/rng.hpp"
#include "input/split.hpp"
#include "input/tokenizer.hpp"

namespace lpt {

struct GptDataOptions {
  int batch = 8;
  int seq_len = 128;
  std::uint64_t seed = 0;         // batch order
  double val_fraction = 0.05;     // of the line blocks
  std::uint64_t split_seed = 0;   // which blocks are validation; independent of `seed`
  std::size_t split_block = 32;   // consecutive lines per split block
};

// Tokens of lines[i] + "\n" for i in `which`, concatenated in that order.
std::vector<token_t> encode_stream(const std::vector<std::string>& lines,
                                   const std::vector<std::size_t>& which, const Tokenizer& tok);

class GptLoader {
 public:
  GptLoader(const std::vector<std::string>& lines, const Tokenizer& tok, const GptDataOptions& o);

  // Next training batch: B rows of T tokens at uniformly random stream offsets.
  void next(LmBatch& b);

  // Validation: the validation stream cut into consecutive non-overlapping windows, B per batch,
  // always in the same order; batch i of val_batches() (the last may have fewer rows).
  std::size_t val_windows() const;
  std::size_t val_batches() const;
  void val_batch(std::size_t i, LmBatch& b) const;

  std::size_t train_tokens() const { return train_.size(); }
  std::size_t val_tokens() const { return val_.size(); }
  const Split& split() const { return split_; }
  const GptDataOptions& options() const { return opt_; }

  // Resume: state() after step k, set_state() on a loader built the same way, and the next
  // batches are identical to those the saved loader would give.
  std::vector<std::uint64_t> state() const;
  void set_state(const std::vector<std::uint64_t>& s);

 private:
  void window(const std::vector<token_t>& stream, std::size_t start, token_t* tok,
              token_t* tgt) const;
  GptDataOptions opt_;
  Split split_;
  std::vector<token_t> train_, val_;
  Rng rng_;
  std::uint64_t steps_ = 0, config_ = 0;
};

}  // namespace lpt
