#include "input/tokenizer.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "input/bpe.hpp"
#include "util/error.hpp"

namespace lpt {

namespace {
// Decodes one code point at s[i], advancing i; returns false on malformed input.
bool next_code_point(const std::string& s, std::size_t& i, char32_t& c) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int len;
  char32_t min;
  if (b0 < 0x80) {
    c = b0;
    ++i;
    return true;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2, c = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3, c = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4, c = b0 & 0x07, min = 0x10000;
  } else {
    return false;
  }
  if (i + len > s.size()) return false;
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return false;
    c = (c << 6) | (b & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
  i += len;
  return true;
}
}  // namespace

std::vector<char32_t> utf8_decode(const std::string& s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  std::size_t i = 0;
  char32_t c;
  while (i < s.size()) {
    if (!next_code_point(s, i, c))
      fail("invalid UTF-8 at byte ", i, " of a ", s.size(), "-byte text; char-level tokenizers ",
           "need UTF-8 input (prepare the data with bash scripts/prepare_data.sh)");
    out.push_back(c);
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += char(c);
  } else if (c < 0x800) {
    out += char(0xc0 | (c >> 6));
    out += char(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += char(0xe0 | (c >> 12));
    out += char(0x80 | ((c >> 6) & 0x3f));
    out += char(0x80 | (c & 0x3f));
  } else {
    out += char(0xf0 | (c >> 18));
    out += char(0x80 | ((c >> 12) & 0x3f));
    out += char(0x80 | ((c >> 6) & 0x3f));
    out += char(0x80 | (c & 0x3f));
  }
}

Tokenizer Tokenizer::bytes(const std::vector<std::string>& specials) {
  Tokenizer t;
  t.kind_ = Kind::byte;
  t.specials_ = specials;
  t.index();
  return t;
}

Tokenizer Tokenizer::chars(const std::vector<std::string>& texts,
                           const std::vector<std::string>& specials) {
  // A bitmap over all code points: megabytes of text in one pass without a tree insert per char.
  std::vector<bool> seen(0x110000, false);
  // The loaders join lines with '\n' (GPT and BERT window streams), so the newline is always a
  // symbol even when the texts are the lines themselves.
  seen['\n'] = true;
  for (const auto& s : texts) {
    std::size_t i = 0;
    char32_t c;
    while (i < s.size()) {
      if (!next_code_point(s, i, c))
        fail("Tokenizer::chars: invalid UTF-8 at byte ", i, " of a training text; prepare the ",
             "data with bash scripts/prepare_data.sh");
      seen[c] = true;
    }
  }
  Tokenizer t;
  t.kind_ = Kind::character;
  t.specials_ = specials;
  for (char32_t c = 0; c < 0x110000; ++c)
    if (seen[c]) t.symbols_.push_back(c);
  t.index();
  return t;
}

Tokenizer Tokenizer::bpe(const std::vector<std::string>& texts, int vocab_size,
                         const std::vector<std::string>& specials) {
  BpeTrainer trainer;
  for (const auto& s : texts) trainer.add(s);
  const long long base = (long long)specials.size() + (long long)trainer.distinct_chars();
  require(vocab_size >= base, "BPE vocabulary size ", vocab_size, " is smaller than the ",
          specials.size(), " specials + ", base - (long long)specials.size(),
          " distinct characters of its training text; ask for at least ", base,
          " (data.bpe_vocab for translation; a few thousand is usual)");
  const BpeRules rules = trainer.learn(int(vocab_size - base));
  Tokenizer t;
  t.kind_ = Kind::bpe;
  t.specials_ = specials;
  t.symbols_ = rules.chars;
  const token_t S = token_t(specials.size());
  for (const auto& m : rules.merges) t.merges_.push_back({S + m[0], S + m[1]});
  t.index();
  return t;
}

void Tokenizer::index() {
  for (std::size_t i = 0; i < specials_.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      require(specials_[i] != specials_[j], "Tokenizer: special token ", specials_[i],
              " listed twice");
  char_id_.clear();
  const token_t base = token_t(specials_.size());
  for (std::size_t i = 0; i < symbols_.size(); ++i) char_id_[symbols_[i]] = base + token_t(i);
  merge_rank_.clear();
  piece_.clear();
  if (kind_ != Kind::bpe) return;
  for (char32_t c : symbols_) utf8_append(piece_.emplace_back(), c);
  for (std::size_t k = 0; k < merges_.size(); ++k) {
    // Each side must be a symbol that exists before this merge: that is what makes the ids, the
    // pieces and the encoding well defined from the list alone (a loaded file is checked too).
    const token_t made = base + token_t(symbols_.size() + k);
    for (token_t side : merges_[k])
      require(side >= base && side < made, "Tokenizer: BPE merge ", k, " uses id ", side,
              ", which is not a symbol made before it (ids ", base, "..", made - 1, ")");
    const std::uint64_t key = bpe_pair_key(merges_[k][0], merges_[k][1]);
    const bool fresh = merge_rank_.emplace(key, int(k)).second;
    require(fresh, "Tokenizer: BPE merge ", k, " repeats an earlier merge (", merges_[k][0], ", ",
            merges_[k][1], ")");
    piece_.push_back(piece_[merges_[k][0] - base] + piece_[merges_[k][1] - base]);
  }
}

bool Tokenizer::has(const std::string& special) const {
  return std::find(specials_.begin(), specials_.end(), special) != specials_.end();
}

token_t Tokenizer::id(const std::string& special) const {
  const auto it = std::find(specials_.begin(), specials_.end(), special);
  if (it == specials_.end()) {
    std::string have;
    for (const auto& s : specials_) have += (have.empty() ? "" : " ") + s;
    fail("Tokenizer has no special token ", special, " (it has: ", have.empty() ? "none" : have,
         "); build it with that special for this model family");
  }
  return token_t(it - specials_.begin());
}

void Tokenizer::encode(const std::string& text, std::vector<token_t>& out) const {
  const token_t base = token_t(specials_.size());
  if (kind_ == Kind::byte) {
    for (unsigned char b : text) out.push_back(base + token_t(b));
    return;
  }
  const token_t unk = has(kUnk) ? id(kUnk) : -1;
  auto char_token = [&](char32_t c) {
    const auto it = char_id_.find(c);
    if (it != char_id_.end()) return it->second;
    require(unk >= 0, "Tokenizer::encode: character U+", std::hex, std::uint32_t(c),
            " is not in the vocabulary and the tokenizer has no [UNK]; build the vocabulary ",
            "from text that contains it or add [UNK] to the specials");
    return unk;
  };
  if (kind_ == Kind::bpe) {
    std::vector<char32_t> cps;
    try {
      cps = utf8_decode(text);
    } catch (const Error& e) {
      fail("Tokenizer::encode: ", e.what());
    }
    std::vector<std::pair<std::size_t, std::size_t>> pieces;
    bpe_pieces(cps, pieces);
    const token_t first_merge = base + token_t(symbols_.size());
    std::vector<token_t> word;
    for (const auto& [b, e] : pieces) {
      word.clear();
      for (std::size_t k = b; k < e; ++k) word.push_back(char_token(cps[k]));
      bpe_apply(word, merge_rank_, first_merge);
      out.insert(out.end(), word.begin(), word.end());
    }
    return;
  }
  std::size_t i = 0;
  char32_t c;
  while (i < text.size()) {
    const std::size_t at = i;
    if (!next_code_point(text, i, c)) fail("Tokenizer::encode: invalid UTF-8 at byte ", at);
    out.push_back(char_token(c));
  }
}

std::vector<token_t> Tokenizer::encode(const std::string& text) const {
  std::vector<token_t> out;
  encode(text, out);
  return out;
}

std::string Tokenizer::decode(const token_t* ids, std::size_t n, bool skip_specials) const {
  std::string out;
  const token_t S = token_t(specials_.size());
  for (std::size_t i = 0; i < n; ++i) {
    const token_t t = ids[i];
    if (t >= 0 && t < S) {
      if (!skip_specials) out += specials_[t];
    } else if (t >= S && t < vocab_size()) {
      if (kind_ == Kind::byte)
        out += char(t - S);
      else if (kind_ == Kind::bpe)
        out += piece_[t - S];
      else
        utf8_append(out, symbols_[t - S]);
    } else {
      utf8_append(out, 0xfffd);
    }
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<token_t>& ids, bool skip_specials) const {
  return decode(ids.data(), ids.size(), skip_specials);
}

nlohmann::json Tokenizer::to_json() const {
  nlohmann::json j;
  j["format"] = "lpt-tokenizer-1";
  j["kind"] = kind_ == Kind::byte ? "byte" : kind_ == Kind::bpe ? "bpe" : "char";
  j["specials"] = specials_;
  j["vocab_size"] = vocab_size();
  if (kind_ != Kind::byte) {
    // Code points as numbers: readable by any JSON reader without caring about escapes.
    std::vector<std::uint32_t> cps(symbols_.begin(), symbols_.end());
    j["code_points"] = cps;
  }
  if (kind_ == Kind::bpe) {
    // Merges as [left id, right id] in the order learned; merge k makes id S + |code_points| + k.
    // Ids rather than strings: the pieces follow from them, and no escaping question arises.
    nlohmann::json m = nlohmann::json::array();
    for (const auto& x : merges_) m.push_back({x[0], x[1]});
    j["merges"] = std::move(m);
  }
  return j;
}

Tokenizer Tokenizer::from_json(const nlohmann::json& j) {
  try {
    require(j.value("format", "") == "lpt-tokenizer-1", "Tokenizer JSON: format is not ",
            "lpt-tokenizer-1");
    Tokenizer t;
    const std::string kind = j.at("kind").get<std::string>();
    require(kind == "byte" || kind == "char" || kind == "bpe", "Tokenizer JSON: unknown kind '",
            kind, "' (known: byte, char, bpe)");
    t.kind_ = kind == "byte" ? Kind::byte : kind == "bpe" ? Kind::bpe : Kind::character;
    t.specials_ = j.at("specials").get<std::vector<std::string>>();
    if (t.kind_ != Kind::byte)
      for (auto cp : j.at("code_points").get<std::vector<std::uint32_t>>()) {
        require(cp <= 0x10ffff, "Tokenizer JSON: code point ", cp, " out of range");
        require(t.symbols_.empty() || cp > std::uint32_t(t.symbols_.back()),
                "Tokenizer JSON: code points must be strictly increasing");
        t.symbols_.push_back(char32_t(cp));
      }
    if (t.kind_ == Kind::bpe)
      for (const auto& m : j.at("merges")) {
        require(m.is_array() && m.size() == 2, "Tokenizer JSON: a BPE merge must be [left, right]");
        t.merges_.push_back({m[0].get<token_t>(), m[1].get<token_t>()});
      }
    t.index();
    if (j.contains("vocab_size"))
      require(j["vocab_size"].get<int>() == t.vocab_size(), "Tokenizer JSON: vocab_size ",
              j["vocab_size"].get<int>(), " disagrees with its symbols (", t.vocab_size(), ")");
    return t;
  } catch (const nlohmann::json::exception& e) {
    fail("Tokenizer JSON is malformed: ", e.what());
  }
}

void Tokenizer::save(const std::string& path) const {
  std::ofstream f(path);
  require(bool(f), "Tokenizer::save: cannot write ", path);
  f << to_json().dump() << "\n";
  require(bool(f), "Tokenizer::save: write to ", path, " failed");
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::ifstream f(path);
  require(bool(f), "Tokenizer::load: cannot read ", path, "; a run saves its tokenizer next to ",
          "its checkpoints");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(f), {}));
  } catch (const nlohmann::json::exception& e) {
    fail("Tokenizer::load: ", path, " is not valid JSON: ", e.what());
  }
  try {
    return from_json(j);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
}

}  // namespace lpt
