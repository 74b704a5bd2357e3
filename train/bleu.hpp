#pragma once
// Corpus BLEU-4 (Papineni et al. 2002) on whitespace-separated words: clipped n-gram precisions
// for n = 1..4 summed over the corpus, geometric mean, brevity penalty against the total
// reference length. No smoothing, one reference per hypothesis, as sacreBLEU's default with its
// tokenizer replaced by whitespace splitting. Returns 0..100.
#include <string>
#include <vector>

namespace lpt {

double corpus_bleu(const std::vector<std::string>& hypotheses,
                   const std::vector<std::string>& references);

}  // namespace lpt
