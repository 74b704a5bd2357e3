#pragma once
// Batches as the loaders fill them (layouts: docs/parameters.md, "Batches"). The caller owns one
// batch object per stream and passes it to every call: storage is sized on the first fill and
// reused afterwards, so a training step allocates nothing. Only the last validation batch may have
// fewer rows (B shrinks; the vectors keep their capacity).
#include <cstdint>
#include <vector>

#include "input/tokenizer.hpp"

namespace lpt {

// GPT: tokens[B,T] ids, targets[B,T] = the next token of each position.
struct LmBatch {
  int B = 0, T = 0;
  std::vector<token_t> tokens, targets;
  void shape(int b, int t) {
    B = b, T = t;
    tokens.resize(std::size_t(b) * t);
    targets.resize(std::size_t(b) * t);
  }
};

// BERT: tokens[B,T] after the 80/10/10 rule, targets[B,T] = original id at the selected positions
// and -100 elsewhere, key_mask[B,T] = 1 real token / 0 padding (the attention op's mask type).
struct MlmBatch {
  int B = 0, T = 0;
  std::vector<token_t> tokens, targets;
  std::vector<std::uint8_t> key_mask;
  void shape(int b, int t) {
    B = b, T = t;
    tokens.resize(std::size_t(b) * t);
    targets.resize(std::size_t(b) * t);
    key_mask.resize(std::size_t(b) * t);
  }
};

// Sequence classification (BERT with a classifier head): tokens[B,T] padded with [PAD],
// key_mask[B,T] = 1 real token / 0 padding, labels[B] class ids.
struct TextClassBatch {
  int B = 0, T = 0;
  std::vector<token_t> tokens;
  std::vector<std::uint8_t> key_mask;
  std::vector<token_t> labels;
  void shape(int b, int t) {
    B = b, T = t;
    tokens.resize(std::size_t(b) * t);
    key_mask.resize(std::size_t(b) * t);
    labels.resize(std::size_t(b));
  }
};

// ViT: images[B,C,H,W] normalized floats, labels[B] class ids.
struct ImageBatch {
  int B = 0, C = 0, H = 0, W = 0;
  std::vector<float> images;
  std::vector<token_t> labels;
  void shape(int b, int c, int h, int w) {
    B = b, C = c, H = h, W = w;
    images.resize(std::size_t(b) * c * h * w);
    labels.resize(std::size_t(b));
  }
};

// Translation (teacher forcing): src[B,Ts] padded with [PAD], src_mask[B,Ts] 1 real / 0 pad,
// tgt_in[B,Tt] = [BOS] y (padded with [PAD]), tgt_out[B,Tt] = y [EOS] (-100 at padding).
struct Seq2SeqBatch {
  int B = 0, Ts = 0, Tt = 0;
  std::vector<token_t> src, tgt_in, tgt_out;
  std::vector<std::uint8_t> src_mask;
  void shape(int b, int ts, int tt) {
    B = b, Ts = ts, Tt = tt;
    src.resize(std::size_t(b) * ts);
    src_mask.resize(std::size_t(b) * ts);
    tgt_in.resize(std::size_t(b) * tt);
    tgt_out.resize(std::size_t(b) * tt);
  }
};

}  // namespace lpt
