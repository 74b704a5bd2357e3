#pragma once
// Byte-pair encoding over characters: the pre-split into words, the greedy learning of merges
// from a word-frequency table, and the application of learned merges to one word
// (docs/data.md, "BPE"). Tokenizer (input/tokenizer.hpp) wraps this as its `bpe` kind.
//
// Symbols here are numbered from 0 without the specials: 0..C-1 the base characters in
// code-point order, C + k the symbol that merge k makes. The Tokenizer adds its specials' count.
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lpt {

// Pieces of a text as [begin, end) code-point ranges. A piece is one optional leading whitespace
// character followed by a run of one class (letters and digits, or other non-space characters);
// a whitespace character that no such run follows is a piece of its own. The pieces cover the
// text exactly, in order, so encoding piece by piece and concatenating the decodes gives the
// text back; merges never cross a piece boundary (" the" is learned apart from "the,").
void bpe_pieces(const std::vector<char32_t>& cps,
                std::vector<std::pair<std::size_t, std::size_t>>& out);

struct BpeRules {
  std::vector<char32_t> chars;                 // base symbols, strictly increasing code points
  std::vector<std::array<std::int32_t, 2>> merges;  // merge k: (left, right) -> symbol C + k
};

// Collects the word-frequency table of the texts it is given, then learns merges from it.
class BpeTrainer {
 public:
  // Adds every piece of `text` (UTF-8; invalid UTF-8 is an error naming `what`).
  void add(const std::string& text, const char* what = "a training text");
  // Learns at most max_merges merges: each round merges the adjacent pair with the highest count
  // over the table (count = sum of the frequencies of the words it occurs in, per occurrence);
  // ties go to the smaller left symbol id, then the smaller right one, so the result depends only
  // on the table. Stops early when no pair occurs min_count times. The pair counts are kept up to
  // date incrementally (only the words that hold the merged pair are rescanned), so learning
  // thousands of merges over ~10^5 distinct words takes well under a second.
  BpeRules learn(int max_merges, long long min_count = 2) const;
  std::size_t distinct_words() const { return words_.size(); }
  std::size_t distinct_chars() const { return chars().size(); }

 private:
  std::vector<char32_t> chars() const;  // the code points of the table, increasing
  std::unordered_map<std::u32string, long long> words_;
};

// Applies `rank` (pair key -> merge index, from bpe_pair_key) to one word of symbol ids in place,
// as learning did: repeatedly the adjacent pair of lowest merge index, all its occurrences left
// to right, becomes first_merge_id + index. Ids that no merge names (an [UNK]) stay as they are.
inline std::uint64_t bpe_pair_key(std::int32_t a, std::int32_t b) {
  return (std::uint64_t(std::uint32_t(a)) << 32) | std::uint32_t(b);
}
void bpe_apply(std::vector<std::int32_t>& word, const std::unordered_map<std::uint64_t, int>& rank,
               std::int32_t first_merge_id);

}  // namespace lpt
