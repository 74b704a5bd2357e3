#pragma once
// Byte-level, character-level and subword (BPE) tokenizers (docs/data.md, "Tokenization").
//
// Ids: the special tokens a model family asks for come first, ids 0..S-1, in the order given;
// then the base symbols. Byte level: the 256 byte values, id = S + byte (with no specials this is
// the plain byte, vocabulary 256). Char level: the Unicode code points of the text the vocabulary
// was built from, in code-point order. BPE: the char-level symbols of its training text, then one
// id per learned merge, in the order learned (input/bpe.hpp). A char not in the vocabulary
// encodes to [UNK] when the tokenizer has it, else encoding throws. A tokenizer is saved with
// each run as JSON and loaded back to decode that run's outputs; the ids never depend on anything
// but that JSON.
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace lpt {

using token_t = std::int32_t;  // token ids and class labels; targets use -100 for "no target"
constexpr token_t kIgnoreIndex = -100;

// Names of the special tokens (the strings are what the JSON holds and decode() prints).
inline constexpr const char* kPad = "[PAD]";
inline constexpr const char* kMask = "[MASK]";
inline constexpr const char* kBos = "[BOS]";
inline constexpr const char* kEos = "[EOS]";
inline constexpr const char* kUnk = "[UNK]";

class Tokenizer {
 public:
  enum class Kind { byte, character, bpe };

  Tokenizer() = default;  // empty, vocab_size() == 0; assign from bytes()/chars()/load()
  static Tokenizer bytes(const std::vector<std::string>& specials = {});
  // Vocabulary = every code point occurring in `texts`, plus '\n' always (the loaders join lines
  // with it); invalid UTF-8 is an error.
  static Tokenizer chars(const std::vector<std::string>& texts,
                         const std::vector<std::string>& specials = {});
  // Learned from `texts` (docs/data.md, "BPE"): base symbols = the code points of the texts, then
  // merges until vocab_size ids in all (specials included), or fewer when no pair of symbols occurs
  // twice any more. Decoding is concatenation, so decode(encode(s)) == s for any text whose
  // characters all occur in `texts`. vocab_size below specials + characters is an error.
  static Tokenizer bpe(const std::vector<std::string>& texts, int vocab_size,
                       const std::vector<std::string>& specials = {});

  Kind kind() const { return kind_; }
  int vocab_size() const {
    return int(specials_.size() + (kind_ == Kind::byte ? 256 : symbols_.size() + merges_.size()));
  }
  int num_specials() const { return int(specials_.size()); }
  const std::vector<std::string>& specials() const { return specials_; }
  bool has(const std::string& special) const;
  token_t id(const std::string& special) const;  // throws when the tokenizer lacks it

  // Appends the ids of `text` to out (no specials are added).
  void encode(const std::string& text, std::vector<token_t>& out) const;
  std::vector<token_t> encode(const std::string& text) const;
  // Text of ids; specials print as their names unless skip_specials, ids out of range as "\uFFFD".
  std::string decode(const token_t* ids, std::size_t n, bool skip_specials = false) const;
  std::string decode(const std::vector<token_t>& ids, bool skip_specials = false) const;

  nlohmann::json to_json() const;
  static Tokenizer from_json(const nlohmann::json& j);
  void save(const std::string& path) const;
  static Tokenizer load(const std::string& path);

 private:
  void index();
  Kind kind_ = Kind::byte;
  std::vector<std::string> specials_;
  std::vector<char32_t> symbols_;  // Char, BPE: the code points; Byte: empty (implicit 0..255)
  std::unordered_map<char32_t, token_t> char_id_;
  // BPE: merge k joins ids (left, right) into id S + |symbols_| + k; merge_rank_ maps a pair's
  // key (bpe_pair_key) to k; piece_ holds the text of each id from S on, for decode.
  std::vector<std::array<token_t, 2>> merges_;
  std::unordered_map<std::uint64_t, int> merge_rank_;
  std::vector<std::string> piece_;
};

// UTF-8 helpers (strict: overlong forms, surrogates and truncated sequences are errors).
std::vector<char32_t> utf8_decode(const std::string& s);
void utf8_append(std::string& out, char32_t c);

}  // namespace lpt
