#pragma once
// Text classification data (BERT fine-tuning, docs/data.md): the `fortunes` data set, one
// cookie per item labelled with its fortune category, and the loader that turns items into
// TextClassBatch rows: the first seq_len tokens of the item, padded with [PAD].
#include <cstdint>
#include <string>
#include <vector>

#include "input/batch.hpp"
#include "input/rng.hpp"
#include "input/split.hpp"
#include "input/tokenizer.hpp"

namespace lpt {

struct LabeledTexts {
  std::vector<std::string> texts;
  std::vector<int> labels;               // [texts.size()], in [0, class_names.size())
  std::vector<std::string> class_names;
  std::size_t size() const { return texts.size(); }
  int classes() const { return int(class_names.size()); }
};

// fortunes: fortunes.tsv ("category<TAB>cookie" per line), classes from meta.json's class_names.
// A category not in class_names, an empty cookie or a count that disagrees with meta.json is an
// lpt::Error naming the file and the command that prepares it again.
LabeledTexts load_fortunes(const std::string& data_dir);

struct TextClassDataOptions {
  int batch = 16;
  int seq_len = 64;              // tokens per row: longer items are cut, shorter ones padded
  std::uint64_t seed = 0;
  double val_fraction = 0.1;
  std::uint64_t split_seed = 0;
};

class TextClassLoader {
 public:
  // tok must have [PAD]; an item that encodes to no token is an error (nothing to classify).
  TextClassLoader(const LabeledTexts& data, const Tokenizer& tok, const TextClassDataOptions& o);

  void next(TextClassBatch& b);  // training items in a fresh seeded permutation per epoch

  std::size_t val_size() const { return split_.val.size(); }
  std::size_t val_batches() const;
  // Validation items in a fixed order seeded by split_seed (not the data's, which groups the
  // items by class), so that the first k batches (train.eval_batches) are a sample of every class.
  void val_batch(std::size_t i, TextClassBatch& b) const;  // the last may be short

  std::size_t train_size() const { return split_.train.size(); }
  // Tokens kept over tokens the items have (what the cut to seq_len leaves).
  double kept_fraction() const { return kept_fraction_; }
  const Split& split() const { return split_; }

  std::vector<std::uint64_t> state() const;
  void set_state(const std::vector<std::uint64_t>& s);

 private:
  void fill_row(std::size_t item, TextClassBatch& b, int row) const;

  TextClassDataOptions opt_;
  Split split_;
  std::vector<std::size_t> val_order_;  // split_.val, shuffled
  // Item k = ids[start[k], start[k] + len[k]) (already cut to seq_len), label[k].
  std::vector<token_t> ids_;
  std::vector<std::size_t> start_;
  std::vector<int> len_;
  std::vector<token_t> label_;
  token_t pad_ = 0;
  double kept_fraction_ = 1;
  EpochOrder order_;
  Rng rng_;  // unused by the batches; kept in the state like ImageLoader's
  std::uint64_t config_ = 0;
};

}  // namespace lpt
