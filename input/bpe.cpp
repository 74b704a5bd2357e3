#include "input/bpe.hpp"

#include <algorithm>
#include <climits>
#include <queue>

#include "input/tokenizer.hpp"
#include "util/error.hpp"

namespace lpt {

namespace {

bool is_space(char32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// 1: letters and digits (ASCII, and the letters past Latin-1's punctuation and signs: accented
// Spanish letters stay inside their word); 2: everything else that is not a space (punctuation,
// quotes, the em dash, the inverted ¿ ¡). Punctuation then never fuses with the word before it.
int char_class(char32_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return 1;
  if (c >= 0xc0 && c != 0xd7 && c != 0xf7 && !(c >= 0x2000 && c <= 0x206f)) return 1;
  return 2;
}

struct Candidate {
  long long count;
  std::int32_t left, right;
};
// Priority: the higher count first; among equal counts the smaller left id, then the smaller
// right id (std::priority_queue puts the "largest" on top, so "less" means "after").
struct After {
  bool operator()(const Candidate& x, const Candidate& y) const {
    if (x.count != y.count) return x.count < y.count;
    if (x.left != y.left) return x.left > y.left;
    return x.right > y.right;
  }
};

// Replaces every occurrence of (left, right) in w, left to right, by sym, in place; whether any did.
bool merge_pair(std::vector<std::int32_t>& w, std::int32_t left, std::int32_t right,
                std::int32_t sym) {
  std::size_t o = 0;
  for (std::size_t j = 0; j < w.size();) {
    if (j + 1 < w.size() && w[j] == left && w[j + 1] == right) {
      w[o++] = sym;
      j += 2;
    } else {
      w[o++] = w[j++];
    }
  }
  const bool changed = o != w.size();
  w.resize(o);
  return changed;
}

}  // namespace

void bpe_pieces(const std::vector<char32_t>& cps,
                std::vector<std::pair<std::size_t, std::size_t>>& out) {
  std::size_t start = 0;
  for (std::size_t i = 1; i <= cps.size(); ++i) {
    bool cut = i == cps.size() || is_space(cps[i]);
    if (!cut) {
      const bool lone_space = i - start == 1 && is_space(cps[start]);
      cut = !lone_space && char_class(cps[i]) != char_class(cps[i - 1]);
    }
    if (cut) {
      if (i > start) out.emplace_back(start, i);
      start = i;
    }
  }
}

void BpeTrainer::add(const std::string& text, const char* what) {
  std::vector<char32_t> cps;
  try {
    cps = utf8_decode(text);
  } catch (const Error& e) {
    fail("BPE training: ", what, " is not valid UTF-8 (", e.what(), ")");
  }
  std::vector<std::pair<std::size_t, std::size_t>> pieces;
  bpe_pieces(cps, pieces);
  for (const auto& [b, e] : pieces) ++words_[std::u32string(cps.begin() + b, cps.begin() + e)];
}

std::vector<char32_t> BpeTrainer::chars() const {
  std::vector<char32_t> cs;
  for (const auto& [w, n] : words_) cs.insert(cs.end(), w.begin(), w.end());
  std::sort(cs.begin(), cs.end());
  cs.erase(std::unique(cs.begin(), cs.end()), cs.end());
  return cs;
}

BpeRules BpeTrainer::learn(int max_merges, long long min_count) const {
  BpeRules r;
  r.chars = chars();
  const auto C = std::int32_t(r.chars.size());
  std::unordered_map<char32_t, std::int32_t> char_id;
  for (std::int32_t i = 0; i < C; ++i) char_id[r.chars[i]] = i;

  // The table as symbol sequences with their frequencies; the order of the words does not
  // matter (counts are sums, the tie-break is by id), so the hash map's order is fine here.
  std::vector<std::vector<std::int32_t>> word;
  std::vector<long long> freq;
  word.reserve(words_.size());
  for (const auto& [w, n] : words_) {
    std::vector<std::int32_t> s;
    s.reserve(w.size());
    for (char32_t c : w) s.push_back(char_id[c]);
    word.push_back(std::move(s));
    freq.push_back(n);
  }

  std::unordered_map<std::uint64_t, long long> count;        // pair -> occurrences
  // pair -> the words that hold it (may repeat, may be stale: a merge skips those)
  std::unordered_map<std::uint64_t, std::vector<int>> where;
  for (int i = 0; i < int(word.size()); ++i)
    for (std::size_t j = 0; j + 1 < word[i].size(); ++j) {
      const std::uint64_t k = bpe_pair_key(word[i][j], word[i][j + 1]);
      count[k] += freq[i];
      where[k].push_back(i);
    }
  std::priority_queue<Candidate, std::vector<Candidate>, After> heap;
  for (const auto& [k, n] : count)
    heap.push({n, std::int32_t(k >> 32), std::int32_t(k & 0xffffffffu)});

  // A heap entry is current when its count equals the pair's count now; older entries of a pair
  // whose count changed are skipped when they surface (lazy deletion).
  std::vector<int> seen(word.size(), -1);
  std::unordered_map<std::uint64_t, long long> delta;
  std::vector<std::int32_t> merged;
  while (int(r.merges.size()) < max_merges && !heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    const std::uint64_t key = bpe_pair_key(top.left, top.right);
    const auto it = count.find(key);
    if (it == count.end() || it->second != top.count) continue;
    if (top.count < min_count) break;
    const int k = int(r.merges.size());
    const std::int32_t sym = C + k;
    r.merges.push_back({top.left, top.right});

    std::vector<int> holders = std::move(where[key]);
    where.erase(key);
    delta.clear();
    for (int i : holders) {
      if (seen[i] == k) continue;
      seen[i] = k;
      auto& s = word[i];
      merged = s;  // the old sequence stays in s for the pair counts it loses
      // A stale holder: the pair has left this word since it was listed.
      if (!merge_pair(merged, top.left, top.right, sym)) continue;
      for (std::size_t j = 0; j + 1 < s.size(); ++j) delta[bpe_pair_key(s[j], s[j + 1])] -= freq[i];
      for (std::size_t j = 0; j + 1 < merged.size(); ++j) {
        const std::uint64_t p = bpe_pair_key(merged[j], merged[j + 1]);
        delta[p] += freq[i];
        // Only pairs with the new symbol are new to this word; it is already listed under the rest.
        if (merged[j] == sym || merged[j + 1] == sym) where[p].push_back(i);
      }
      s.swap(merged);
    }
    for (const auto& [p, d] : delta) {
      if (d == 0) continue;
      long long& n = count[p];
      n += d;
      if (n <= 0) {
        count.erase(p);
      } else {
        heap.push({n, std::int32_t(p >> 32), std::int32_t(p & 0xffffffffu)});
      }
    }
  }
  return r;
}

void bpe_apply(std::vector<std::int32_t>& w, const std::unordered_map<std::uint64_t, int>& rank,
               std::int32_t first_merge_id) {
  while (w.size() > 1) {
    int best = INT_MAX;
    std::int32_t left = 0, right = 0;
    for (std::size_t j = 0; j + 1 < w.size(); ++j) {
      const auto it = rank.find(bpe_pair_key(w[j], w[j + 1]));
      if (it != rank.end() && it->second < best) {
        best = it->second;
        left = w[j];
        right = w[j + 1];
      }
    }
    if (best == INT_MAX) return;
    merge_pair(w, left, right, first_merge_id + best);
  }
}

}  // namespace lpt
