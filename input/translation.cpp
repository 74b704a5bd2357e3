#include "input/translation.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace lpt {

namespace {
constexpr std::uint64_t kPairTag = 0x7032703a6c6f6164ULL;  // "p2p:load"

std::vector<std::string> all_of(const std::vector<std::string>& a) {
  std::string s;
  for (const auto& x : a) s += x;
  return {s};
}
}  // namespace

std::pair<Tokenizer, Tokenizer> translation_tokenizers(const PairSet& p, bool shared,
                                                       bool es_to_en) {
  const std::vector<std::string> specials = {kPad, kBos, kEos, kUnk};
  const auto& src = es_to_en ? p.es : p.en;
  const auto& tgt = es_to_en ? p.en : p.es;
  if (shared) {
    Tokenizer t = Tokenizer::chars({all_of(src)[0], all_of(tgt)[0]}, specials);
    return {t, t};
  }
  return {Tokenizer::chars(all_of(src), specials), Tokenizer::chars(all_of(tgt), specials)};
}

Split translation_split(std::size_t n, const TranslationDataOptions& o) {
  return split_items(n, o.val_fraction, o.split_seed, 1);
}

std::pair<Tokenizer, Tokenizer> translation_bpe_tokenizers(const PairSet& p,
                                                           const std::vector<std::size_t>& train,
                                                           int vocab_size, bool shared,
                                                           bool es_to_en) {
  const std::vector<std::string> specials = {kPad, kBos, kEos, kUnk};
  std::vector<std::string> src, tgt;
  src.reserve(train.size());
  tgt.reserve(train.size());
  for (std::size_t k : train) {
    require(k < p.size(), "translation_bpe_tokenizers: training pair ", k, " of ", p.size());
    src.push_back(es_to_en ? p.es[k] : p.en[k]);
    tgt.push_back(es_to_en ? p.en[k] : p.es[k]);
  }
  if (shared) {
    src.insert(src.end(), tgt.begin(), tgt.end());
    Tokenizer t = Tokenizer::bpe(src, vocab_size, specials);
    return {t, t};
  }
  return {Tokenizer::bpe(src, vocab_size, specials), Tokenizer::bpe(tgt, vocab_size, specials)};
}

TranslationLoader::TranslationLoader(const PairSet& pairs, const Tokenizer& src_tok,
                                     const Tokenizer& tgt_tok, const TranslationDataOptions& o)
    : opt_(o), rng_(mix64(o.seed, 0x7a45)) {
  require(o.batch >= 1 && o.max_src >= 1 && o.max_tgt >= 1, "TranslationLoader: batch, max_src ",
          "and max_tgt must be >= 1, got ", o.batch, ", ", o.max_src, ", ", o.max_tgt);
  require(pairs.en.size() == pairs.size() && pairs.es.size() == pairs.size(),
          "TranslationLoader: PairSet columns differ in length");
  src_text_ = o.es_to_en ? &pairs.es : &pairs.en;
  tgt_text_ = o.es_to_en ? &pairs.en : &pairs.es;
  pad_ = src_tok.id(kPad);
  require(tgt_tok.id(kPad) == pad_, "TranslationLoader: source and target tokenizers must give ",
          "[PAD] the same id");
  bos_ = tgt_tok.id(kBos);
  eos_ = tgt_tok.id(kEos);
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    src_start_.push_back(src_tokens_.size());
    tgt_start_.push_back(tgt_tokens_.size());
    src_tok.encode((*src_text_)[k], src_tokens_);
    tgt_tok.encode((*tgt_text_)[k], tgt_tokens_);
  }
  src_start_.push_back(src_tokens_.size());
  tgt_start_.push_back(tgt_tokens_.size());
  split_ = translation_split(pairs.size(), o);
  order_ = EpochOrder(split_.train.size(), mix64(o.seed, 0x0bde));
  config_ = mix64(mix64(kPairTag, pairs.size(), o.es_to_en), mix64(o.batch, o.seed, o.max_src),
                  mix64(o.split_seed, o.max_tgt, std::uint64_t(o.val_fraction * 1e9)));
}

void TranslationLoader::fill_row(std::size_t k, Seq2SeqBatch& b, int row) const {
  const int Ts = b.Ts, Tt = b.Tt;
  token_t* src = &b.src[std::size_t(row) * Ts];
  std::uint8_t* sm = &b.src_mask[std::size_t(row) * Ts];
  const int ls = int(std::min<std::size_t>(Ts, src_start_[k + 1] - src_start_[k]));
  std::copy_n(&src_tokens_[src_start_[k]], ls, src);
  std::fill(src + ls, src + Ts, pad_);
  std::fill(sm, sm + ls, std::uint8_t(1));
  std::fill(sm + ls, sm + Ts, std::uint8_t(0));

  // full = [BOS] y [EOS], cut to Tt + 1 tokens; in = full[0, L-1), out = full[1, L).
  const token_t* y = &tgt_tokens_[tgt_start_[k]];
  const int ly = int(tgt_start_[k + 1] - tgt_start_[k]);
  const int L = std::min(ly + 2, Tt + 1);
  auto full = [&](int j) { return j == 0 ? bos_ : (j <= ly ? y[j - 1] : eos_); };
  token_t* in = &b.tgt_in[std::size_t(row) * Tt];
  token_t* out = &b.tgt_out[std::size_t(row) * Tt];
  for (int j = 0; j < Tt; ++j) {
    in[j] = j < L - 1 ? full(j) : pad_;
    out[j] = j < L - 1 ? full(j + 1) : kIgnoreIndex;
  }
}

void TranslationLoader::next(Seq2SeqBatch& b) {
  b.shape(opt_.batch, opt_.max_src, opt_.max_tgt);
  for (int r = 0; r < opt_.batch; ++r) fill_row(split_.train[order_.next()], b, r);
}

std::size_t TranslationLoader::val_batches() const {
  return (split_.val.size() + opt_.batch - 1) / opt_.batch;
}

void TranslationLoader::val_batch(std::size_t i, Seq2SeqBatch& b) const {
  require(i < val_batches(), "TranslationLoader::val_batch: batch ", i, " of ", val_batches());
  const std::size_t first = i * opt_.batch;
  const int rows = int(std::min<std::size_t>(opt_.batch, split_.val.size() - first));
  b.shape(rows, opt_.max_src, opt_.max_tgt);
  for (int r = 0; r < rows; ++r) fill_row(split_.val[first + r], b, r);
}

const std::string& TranslationLoader::val_source(std::size_t k) const {
  require(k < split_.val.size(), "TranslationLoader::val_source: ", k, " of ", split_.val.size());
  return (*src_text_)[split_.val[k]];
}

const std::string& TranslationLoader::val_reference(std::size_t k) const {
  require(k < split_.val.size(), "TranslationLoader::val_reference: ", k, " of ",
          split_.val.size());
  return (*tgt_text_)[split_.val[k]];
}

std::vector<std::uint64_t> TranslationLoader::state() const {
  return LoaderState::pack(kPairTag, config_, order_, rng_);
}

void TranslationLoader::set_state(const std::vector<std::uint64_t>& s) {
  LoaderState::unpack(s, kPairTag, config_, "TranslationLoader", order_, rng_);
}

}  // namespace lpt
