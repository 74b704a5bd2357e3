#include "train/bleu.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "util/error.hpp"

namespace lpt {
namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string t; in >> t;) w.push_back(t);
  return w;
}

std::map<std::vector<std::string>, int> ngrams(const std::vector<std::string>& w, int n) {
  std::map<std::vector<std::string>, int> c;
  for (std::size_t i = 0; i + n <= w.size(); ++i) ++c[std::vector<std::string>(w.begin() + i, w.begin() + i + n)];
  return c;
}

}  // namespace

double corpus_bleu(const std::vector<std::string>& hypotheses,
                   const std::vector<std::string>& references) {
  require(hypotheses.size() == references.size(), "corpus_bleu: ", hypotheses.size(),
          " hypotheses for ", references.size(), " references");
  double matched[4] = {0, 0, 0, 0}, total[4] = {0, 0, 0, 0};
  double hyp_len = 0, ref_len = 0;
  for (std::size_t k = 0; k < hypotheses.size(); ++k) {
    const auto h = words(hypotheses[k]), r = words(references[k]);
    hyp_len += h.size();
    ref_len += r.size();
    for (int n = 1; n <= 4; ++n) {
      const auto hc = ngrams(h, n), rc = ngrams(r, n);
      for (const auto& [g, c] : hc) {
        auto it = rc.find(g);
        matched[n - 1] += std::min(c, it == rc.end() ? 0 : it->second);
        total[n - 1] += c;
      }
    }
  }
  double log_p = 0;
  for (int n = 0; n < 4; ++n) {
    if (matched[n] == 0 || total[n] == 0) return 0.0;
    log_p += std::log(matched[n] / total[n]) / 4;
  }
  const double bp = hyp_len >= ref_len ? 1.0 : std::exp(1.0 - ref_len / std::max(hyp_len, 1.0));
  return 100.0 * bp * std::exp(log_p);
}

}  // namespace lpt
