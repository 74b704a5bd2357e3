#include "input/classify.hpp"

#include <algorithm>
#include <map>

#include "input/files.hpp"
#include "input/text.hpp"
#include "util/error.hpp"

namespace lpt {

namespace {
constexpr std::uint64_t kClassTag = 0x636c733a6c6f6164ULL;  // "cls:load"
}

LabeledTexts load_fortunes(const std::string& data_dir) {
  DataSetFiles ds(data_dir, "fortunes");
  LabeledTexts out;
  try {
    out.class_names = ds.meta().at("class_names").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    ds.corrupt("meta.json", std::string("malformed 'class_names' (") + e.what() + ")");
  }
  if (out.class_names.size() < 2) ds.corrupt("meta.json", "lists fewer than 2 classes");
  std::map<std::string, int> id;
  for (std::size_t c = 0; c < out.class_names.size(); ++c) id[out.class_names[c]] = int(c);
  const auto lines = split_lines(ds.read_text("fortunes.tsv"));
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& l = lines[n];
    const auto tab = l.find('\t');
    const auto it = tab == std::string::npos ? id.end() : id.find(l.substr(0, tab));
    if (it == id.end() || tab + 1 == l.size() || l.find('\t', tab + 1) != std::string::npos)
      ds.corrupt("fortunes.tsv", "line " + std::to_string(n + 1) +
                                     " is not 'category<TAB>text' with a category of meta.json's "
                                     "class_names and non-empty text");
    out.labels.push_back(it->second);
    out.texts.emplace_back(l, tab + 1);
  }
  if ((long long)out.size() != ds.integer("items"))
    ds.corrupt("fortunes.tsv", "has " + std::to_string(out.size()) + " items, meta.json says " +
                                   std::to_string(ds.integer("items")));
  return out;
}

TextClassLoader::TextClassLoader(const LabeledTexts& data, const Tokenizer& tok,
                                 const TextClassDataOptions& o)
    : opt_(o), rng_(mix64(o.seed, 0xc1a5)) {
  require(o.batch >= 1 && o.seq_len >= 1, "TextClassLoader: batch and seq_len must be >= 1, got ",
          o.batch, " and ", o.seq_len);
  require(data.labels.size() == data.texts.size(), "TextClassLoader: ", data.texts.size(),
          " texts but ", data.labels.size(), " labels");
  pad_ = tok.id(kPad);
  std::vector<token_t> scratch;
  std::size_t total = 0;
  for (std::size_t k = 0; k < data.size(); ++k) {
    require(data.labels[k] >= 0 && data.labels[k] < data.classes(), "TextClassLoader: item ", k,
            " has label ", data.labels[k], ", outside [0, ", data.classes(), ")");
    scratch.clear();
    tok.encode(data.texts[k], scratch);
    require(!scratch.empty(), "TextClassLoader: item ", k, " encodes to no token");
    total += scratch.size();
    const int n = int(std::min<std::size_t>(scratch.size(), std::size_t(o.seq_len)));
    start_.push_back(ids_.size());
    len_.push_back(n);
    ids_.insert(ids_.end(), scratch.begin(), scratch.begin() + n);
    label_.push_back(token_t(data.labels[k]));
  }
  kept_fraction_ = total ? double(ids_.size()) / double(total) : 1.0;
  split_ = split_items(data.size(), o.val_fraction, o.split_seed, 1);
  order_ = EpochOrder(split_.train.size(), mix64(o.seed, 0x7c1a));
  val_order_ = split_.val;
  Rng val_rng(mix64(o.split_seed, 0x5a1d));
  shuffle(val_order_, val_rng);
  config_ = mix64(mix64(kClassTag, data.size(), ids_.size()), mix64(o.batch, o.seed),
                  mix64(mix64(o.split_seed, std::uint64_t(o.val_fraction * 1e9)), o.seq_len));
}

void TextClassLoader::fill_row(std::size_t item, TextClassBatch& b, int row) const {
  const std::size_t T = std::size_t(opt_.seq_len), r0 = std::size_t(row) * T;
  const int n = len_[item];
  for (std::size_t t = 0; t < T; ++t) {
    const bool real = t < std::size_t(n);
    b.tokens[r0 + t] = real ? ids_[start_[item] + t] : pad_;
    b.key_mask[r0 + t] = real ? 1 : 0;
  }
  b.labels[row] = label_[item];
}

void TextClassLoader::next(TextClassBatch& b) {
  require(!split_.train.empty(), "TextClassLoader: no training items (data.val_fraction ",
          opt_.val_fraction, " holds out all ", split_.val.size(), ")");
  b.shape(opt_.batch, opt_.seq_len);
  for (int r = 0; r < opt_.batch; ++r) fill_row(split_.train[order_.next()], b, r);
}

std::size_t TextClassLoader::val_batches() const {
  return (split_.val.size() + opt_.batch - 1) / opt_.batch;
}

void TextClassLoader::val_batch(std::size_t i, TextClassBatch& b) const {
  require(i < val_batches(), "TextClassLoader::val_batch: batch ", i, " of ", val_batches());
  const std::size_t first = i * opt_.batch;
  const int rows = int(std::min<std::size_t>(opt_.batch, split_.val.size() - first));
  b.shape(rows, opt_.seq_len);
  for (int r = 0; r < rows; ++r) fill_row(val_order_[first + r], b, r);
}

std::vector<std::uint64_t> TextClassLoader::state() const {
  return LoaderState::pack(kClassTag, config_, order_, rng_);
}

void TextClassLoader::set_state(const std::vector<std::uint64_t>& s) {
  LoaderState::unpack(s, kClassTag, config_, "TextClassLoader", order_, rng_);
}

}  // namespace lpt
