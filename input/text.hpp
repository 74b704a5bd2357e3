#pragma once
// The text data sets as prepared by scripts/prepare_data.sh (format: docs/data.md).
#include <string>
#include <vector>

namespace lpt {

// english: one World English Bible verse per line (english.txt); with_extra appends the lines of
// extra.txt (fortunes and Jargon File paragraphs) after the verses.
std::vector<std::string> load_english(const std::string& data_dir, bool with_extra = false);

// en_es: verse-aligned pairs from en_es.tsv ("key<TAB>english<TAB>spanish" per line).
struct PairSet {
  std::vector<std::string> keys, en, es;
  std::size_t size() const { return keys.size(); }
};
PairSet load_en_es(const std::string& data_dir);

// Splits text at '\n' (a final newline does not start an extra line).
std::vector<std::string> split_lines(const std::string& text);

}  // namespace lpt
