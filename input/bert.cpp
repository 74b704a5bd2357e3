#include "input/bert.hpp"

#include <algorithm>

#include "input/gpt.hpp"
#include "util/error.hpp"

namespace lpt {

namespace {
constexpr std::uint64_t kBertTag = 0x626572743a6c6f64ULL;  // "bert:lod"
}

int mlm_mask_row(token_t* tokens, token_t* targets, const std::uint8_t* key_mask, int T,
                 const MlmRule& rule, token_t mask_id, token_t random_lo, token_t random_hi,
                 Rng& rng) {
  int selected = 0, real = 0;
  for (int t = 0; t < T; ++t) {
    targets[t] = kIgnoreIndex;
    if (!key_mask[t]) continue;
    ++real;
    if (rng.uniform() < rule.select) {
      targets[t] = tokens[t];
      ++selected;
    }
  }
  // A sequence without a target adds nothing to the loss; select one real position instead.
  if (selected == 0 && real > 0) {
    int k = int(rng.below(std::uint64_t(real)));
    for (int t = 0; t < T; ++t)
      if (key_mask[t] && k-- == 0) {
        targets[t] = tokens[t];
        selected = 1;
        break;
      }
  }
  for (int t = 0; t < T; ++t) {
    if (targets[t] == kIgnoreIndex) continue;
    const double u = rng.uniform();
    if (u < rule.mask)
      tokens[t] = mask_id;
    else if (u < rule.mask + rule.random)
      tokens[t] = random_lo + token_t(rng.below(std::uint64_t(random_hi - random_lo)));
  }
  return selected;
}

BertLoader::Pieces BertLoader::cut(const std::vector<std::string>& lines,
                                   const std::vector<std::size_t>& which, const Tokenizer& tok,
                                   int T) {
  Pieces p;
  for (std::size_t i : which) {
    const std::size_t begin = p.tokens.size();
    tok.encode(lines[i], p.tokens);
    const std::size_t n = p.tokens.size() - begin;
    for (std::size_t s = 0; s < n; s += T) {
      p.start.push_back(begin + s);
      p.len.push_back(int(std::min<std::size_t>(T, n - s)));
    }
  }
  return p;
}

BertLoader::BertLoader(const std::vector<std::string>& lines, const Tokenizer& tok,
                       const BertDataOptions& o)
    : opt_(o), rng_(mix64(o.seed, 0xbe27)) {
  require(o.batch >= 1 && o.seq_len >= 1, "BertLoader: batch and seq_len must be >= 1, got ",
          o.batch, " and ", o.seq_len);
  const MlmRule& r = o.rule;
  require(r.select > 0 && r.select <= 1 && r.mask >= 0 && r.random >= 0 && r.mask + r.random <= 1,
          "BertLoader: masking rule needs 0 < select <= 1 and mask, random >= 0 with mask + ",
          "random <= 1; got ", r.select, ", ", r.mask, ", ", r.random);
  pad_ = tok.id(kPad);
  mask_ = tok.id(kMask);
  random_lo_ = tok.num_specials();
  random_hi_ = tok.vocab_size();
  require(random_hi_ > random_lo_, "BertLoader: the tokenizer has no non-special tokens");
  split_ = split_items(lines.size(), o.val_fraction, o.split_seed, o.split_block);
  std::size_t ntrain;
  if (o.mode == BertDataOptions::Mode::lines) {
    train_ = cut(lines, split_.train, tok, o.seq_len);
    val_ = cut(lines, split_.val, tok, o.seq_len);
    ntrain = train_.start.size();
    require(ntrain > 0, "BertLoader: the training split has no non-empty line");
    order_ = EpochOrder(ntrain, mix64(o.seed, 0x0bde));
  } else {
    train_stream_ = encode_stream(lines, split_.train, tok);
    val_stream_ = encode_stream(lines, split_.val, tok);
    require(train_stream_.size() >= std::size_t(o.seq_len), "BertLoader: the training split has ",
            train_stream_.size(), " tokens, fewer than seq_len = ", o.seq_len);
    ntrain = train_stream_.size();
  }
  config_ = mix64(mix64(kBertTag, ntrain, std::uint64_t(o.mode)), mix64(o.batch, o.seq_len, o.seed),
                  mix64(o.split_seed, o.split_block, std::uint64_t(o.val_fraction * 1e9)));
}

void BertLoader::fill_row(const token_t* src, int len, std::size_t row, MlmBatch& b,
                          Rng& rng) const {
  const int T = b.T;
  token_t* tok = &b.tokens[row * T];
  std::uint8_t* km = &b.key_mask[row * T];
  std::copy_n(src, len, tok);
  std::fill(tok + len, tok + T, pad_);
  std::fill(km, km + len, std::uint8_t(1));
  std::fill(km + len, km + T, std::uint8_t(0));
  mlm_mask_row(tok, &b.targets[row * T], km, T, opt_.rule, mask_, random_lo_, random_hi_, rng);
}

void BertLoader::next(MlmBatch& b) {
  const int B = opt_.batch, T = opt_.seq_len;
  b.shape(B, T);
  for (int r = 0; r < B; ++r) {
    if (opt_.mode == BertDataOptions::Mode::lines) {
      const std::size_t k = order_.next();
      fill_row(&train_.tokens[train_.start[k]], train_.len[k], r, b, rng_);
    } else {
      const std::size_t at = rng_.below(train_stream_.size() - T + 1);
      fill_row(&train_stream_[at], T, r, b, rng_);
    }
  }
}

std::size_t BertLoader::train_sequences() const {
  return opt_.mode == BertDataOptions::Mode::lines ? train_.start.size()
                                                   : train_stream_.size() - opt_.seq_len + 1;
}

std::size_t BertLoader::val_sequences() const {
  if (opt_.mode == BertDataOptions::Mode::lines) return val_.start.size();
  return val_stream_.size() / opt_.seq_len;
}

std::size_t BertLoader::val_batches() const {
  return (val_sequences() + opt_.batch - 1) / opt_.batch;
}

void BertLoader::val_batch(std::size_t i, MlmBatch& b) const {
  require(i < val_batches(), "BertLoader::val_batch: batch ", i, " of ", val_batches());
  const int T = opt_.seq_len;
  const std::size_t first = i * opt_.batch;
  const int rows = int(std::min<std::size_t>(opt_.batch, val_sequences() - first));
  b.shape(rows, T);
  for (int r = 0; r < rows; ++r) {
    const std::size_t k = first + r;
    Rng rng(mix64(opt_.split_seed, 0x7a1, k));
    if (opt_.mode == BertDataOptions::Mode::lines)
      fill_row(&val_.tokens[val_.start[k]], val_.len[k], r, b, rng);
    else
      fill_row(&val_stream_[k * T], T, r, b, rng);
  }
}

std::vector<std::uint64_t> BertLoader::state() const {
  return LoaderState::pack(kBertTag, config_, order_, rng_);
}

void BertLoader::set_state(const std::vector<std::uint64_t>& s) {
  if (opt_.mode == BertDataOptions::Mode::lines) {
    LoaderState::unpack(s, kBertTag, config_, "BertLoader", order_, rng_);
  } else {
    std::uint64_t steps;
    LoaderState::unpack(s, kBertTag, config_, "BertLoader", steps, rng_);
  }
}

}  // namespace lpt
