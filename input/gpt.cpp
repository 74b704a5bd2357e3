#include "input/gpt.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace lpt {

namespace {
constexpr std::uint64_t kGptTag = 0x6770743a6c6f6164ULL;  // "gpt:load"
}

std::vector<token_t> encode_stream(const std::vector<std::string>& lines,
                                   const std::vector<std::size_t>& which, const Tokenizer& tok) {
  std::vector<token_t> out;
  for (std::size_t i : which) {
    tok.encode(lines[i], out);
    tok.encode("\n", out);
  }
  return out;
}

GptLoader::GptLoader(const std::vector<std::string>& lines, const Tokenizer& tok,
                     const GptDataOptions& o)
    : opt_(o), rng_(mix64(o.seed, 0x697)) {
  require(o.batch >= 1 && o.seq_len >= 1, "GptLoader: batch and seq_len must be >= 1, got ",
          o.batch, " and ", o.seq_len);
  split_ = split_items(lines.size(), o.val_fraction, o.split_seed, o.split_block);
  train_ = encode_stream(lines, split_.train, tok);
  val_ = encode_stream(lines, split_.val, tok);
  require(train_.size() > std::size_t(o.seq_len), "GptLoader: the training split has ",
          train_.size(), " tokens, fewer than seq_len + 1 = ", o.seq_len + 1,
          "; use more text or a shorter sequence");
  config_ = mix64(mix64(kGptTag, train_.size(), val_.size()), mix64(o.batch, o.seq_len, o.seed),
                  mix64(o.split_seed, o.split_block, std::uint64_t(o.val_fraction * 1e9)));
}

void GptLoader::window(const std::vector<token_t>& stream, std::size_t start, token_t* tok,
                       token_t* tgt) const {
  const int T = opt_.seq_len;
  std::copy_n(stream.begin() + start, T, tok);
  std::copy_n(stream.begin() + start + 1, T, tgt);
}

void GptLoader::next(LmBatch& b) {
  const int B = opt_.batch, T = opt_.seq_len;
  b.shape(B, T);
  const std::size_t starts = train_.size() - std::size_t(T);  // starts 0..starts-1 fit T+1 tokens
  for (int r = 0; r < B; ++r)
    window(train_, rng_.below(starts), &b.tokens[std::size_t(r) * T], &b.targets[std::size_t(r) * T]);
  ++steps_;
}

std::size_t GptLoader::val_windows() const {
  return val_.size() > std::size_t(opt_.seq_len) ? (val_.size() - 1) / opt_.seq_len : 0;
}

std::size_t GptLoader::val_batches() const {
  return (val_windows() + opt_.batch - 1) / opt_.batch;
}

void GptLoader::val_batch(std::size_t i, LmBatch& b) const {
  require(i < val_batches(), "GptLoader::val_batch: batch ", i, " of ", val_batches());
  const int T = opt_.seq_len;
  const std::size_t first = i * opt_.batch;
  const int rows = int(std::min<std::size_t>(opt_.batch, val_windows() - first));
  b.shape(rows, T);
  for (int r = 0; r < rows; ++r)
    window(val_, (first + r) * T, &b.tokens[std::size_t(r) * T], &b.targets[std::size_t(r) * T]);
}

std::vector<std::uint64_t> GptLoader::state() const {
  return LoaderState::pack(kGptTag, config_, steps_, rng_);
}

void GptLoader::set_state(const std::vector<std::uint64_t>& s) {
  LoaderState::unpack(s, kGptTag, config_, "GptLoader", steps_, rng_);
}

}  // namespace lpt
