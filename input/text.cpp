#include "input/text.hpp"

#include "input/files.hpp"
#include "util/error.hpp"

namespace lpt {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    lines.emplace_back(text, i, j - i);
    i = j + 1;
  }
  return lines;
}

std::vector<std::string> load_english(const std::string& data_dir, bool with_extra) {
  DataSetFiles ds(data_dir, "english");
  auto lines = split_lines(ds.read_text("english.txt"));
  if ((long long)lines.size() != ds.integer("lines"))
    ds.corrupt("english.txt", "has " + std::to_string(lines.size()) + " lines, meta.json says " +
                                  std::to_string(ds.integer("lines")));
  if (with_extra) {
    auto extra = split_lines(ds.read_text("extra.txt"));
    lines.insert(lines.end(), extra.begin(), extra.end());
  }
  return lines;
}

PairSet load_en_es(const std::string& data_dir) {
  DataSetFiles ds(data_dir, "en_es");
  const auto lines = split_lines(ds.read_text("en_es.tsv"));
  PairSet p;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const auto& l = lines[n];
    const auto a = l.find('\t');
    const auto b = a == std::string::npos ? a : l.find('\t', a + 1);
    if (b == std::string::npos || l.find('\t', b + 1) != std::string::npos || a == 0 ||
        b == a + 1 || b + 1 == l.size())
      ds.corrupt("en_es.tsv", "line " + std::to_string(n + 1) +
                                  " is not 'key<TAB>english<TAB>spanish' with non-empty fields");
    p.keys.emplace_back(l, 0, a);
    p.en.emplace_back(l, a + 1, b - a - 1);
    p.es.emplace_back(l, b + 1);
  }
  if ((long long)p.size() != ds.integer("pairs"))
    ds.corrupt("en_es.tsv", "has " + std::to_string(p.size()) + " pairs, meta.json says " +
                                std::to_string(ds.integer("pairs")));
  return p;
}

}  // namespace lpt
