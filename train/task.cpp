// The tasks: GPT and BERT (masked LM) on the english corpus, BERT with a classifier head on the
// fortune categories (fine-tuning), ViT on Fashion-MNIST or the 8×8 digits, translation on the
// English–Spanish verse pairs.
#include "train/task.hpp"

#include <algorithm>
#include <cstdio>

#include "train/bleu.hpp"
#include "input/bert.hpp"
#include "input/classify.hpp"
#include "input/gpt.hpp"
#include "input/image.hpp"
#include "input/text.hpp"
#include "input/translation.hpp"
#include "model/families/bert.hpp"
#include "model/families/bert_classifier.hpp"
#include "model/families/gpt.hpp"
#include "model/families/mt.hpp"
#include "model/families/vit.hpp"
#include "util/error.hpp"

namespace lpt {

ModelConfig model_dims(const ModelSection& m, int vocab, int src_vocab, int tgt_vocab) {
  ModelConfig c = m;  // the sizes as configured; only the vocabularies are known later
  c.vocab = vocab;
  c.src_vocab = src_vocab;
  c.tgt_vocab = tgt_vocab;
  return c;
}

namespace {

// model.vocab = 0 takes the tokenizer's size; a larger one pads the embedding (unused rows).
int resolve_vocab(int asked, int tokenizer_size, const char* key) {
  if (asked == 0) return tokenizer_size;
  require(asked >= tokenizer_size, key, " = ", asked, " is smaller than the tokenizer's ",
          tokenizer_size, " symbols; set it to 0 (take the tokenizer's size) or larger");
  return asked;
}

void require_family_data(const RunConfig& cfg, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (cfg.data.name == n) return;
  std::string list;
  for (const char* n : names) list += std::string(list.empty() ? "" : ", ") + n;
  fail("data.name = \"", cfg.data.name, "\" does not fit model.family = \"",
       to_string(cfg.model.family), "\"; use one of: ", list);
}

// Accumulates loss and metric counts over validation batches.
struct EvalSum {
  double loss = 0;
  long long batches = 0, correct = 0, counted = 0;
  void add(const EvalCounts& c) {
    loss += c.loss;
    ++batches;
    correct += c.correct;
    counted += c.counted;
  }
  EvalResult result(const char* metric) const {
    EvalResult r;
    r.loss = batches ? loss / batches : 0;
    r.metric = counted ? double(correct) / double(counted) : 0;
    r.metric_name = metric;
    return r;
  }
};

// A validation split with no batch would be scored as loss 0 and metric 0, which reads as a result;
// refuse it while the data is loaded, naming the file, its size and what a split needs.
void require_validation(std::size_t val_batches, const std::string& file, std::size_t items,
                        const char* unit, std::size_t val_items, const char* val_unit,
                        const std::string& needs, const RunConfig& cfg) {
  if (val_batches > 0) return;
  fail(file, " has ", items, " ", unit, ", too few for a validation split: data.val_fraction = ",
       cfg.data.val_fraction, " holds out ", val_items, " ", val_unit, ", which gives no validation ",
       "batch; ", needs, ". Use a larger data set, or raise data.val_fraction");
}

std::string data_file(const RunConfig& cfg, const char* set, const char* file) {
  return cfg.data.dir + "/" + set + "/" + file;
}

// The tokenizer of both BERT tasks: byte or char level with [PAD] [MASK]. One choice for both,
// so that a masked-LM checkpoint's embedding fits the classifier fine-tuned from it.
Tokenizer bert_tokenizer(const RunConfig& cfg, const std::vector<std::string>& texts) {
  const std::vector<std::string> specials{kPad, kMask};
  return cfg.data.tokenizer == "char" ? Tokenizer::chars(texts, specials)
                                      : Tokenizer::bytes(specials);
}

// The options every loader shares.
template <class Options>
Options loader_options(const RunConfig& cfg) {
  Options o;
  o.batch = cfg.train.batch;
  o.seed = cfg.train.seed;
  o.val_fraction = cfg.data.val_fraction;
  o.split_seed = cfg.data.seed;
  return o;
}

// What every task shares: a loader (next, val_batch, state), a model bound batch by batch, and
// the evaluation loop over the first validation batches.
template <class Loader, class Batch, class M, class M64>
class LoaderTask : public Task {
 public:
  Model<float>& model() override { return *model_; }
  void next_batch() override {
    loader_->next(batch_);
    model_->set_batch(batch_);
    if (model64_) model64_->set_batch(batch_);
  }
  void bind_lookahead(int k) override {
    if (k == 0) {
      model_->set_batch(batch_);
      if (model64_) model64_->set_batch(batch_);
      return;
    }
    const std::vector<std::uint64_t> st = loader_->state();
    for (int i = 0; i < k; ++i) loader_->next(probe_);
    loader_->set_state(st);
    model_->set_batch(probe_);
    if (model64_) model64_->set_batch(probe_);
  }
  Model<double>& model64() override {
    if (!model64_) model64_ = std::make_unique<M64>(model_->config());
    return *model64_;
  }
  std::vector<std::uint64_t> data_state() const override { return loader_->state(); }
  void set_data_state(const std::vector<std::uint64_t>& s) override { loader_->set_state(s); }

 protected:
  // Loss and metric counts of the first max_batches validation batches (all when <= 0);
  // visit(val_) runs after each batch's loss, for metrics beyond the model's counts.
  // The layers run through `run` (every rank of a split model takes part); the root's loss and
  // counts are shared, so every rank returns the same result.
  template <class Visit>
  EvalSum eval_loop(LayerRunner<float>& run, int max_batches, Visit&& visit) {
    EvalSum s;
    const std::size_t avail = loader_->val_batches();
    const std::size_t n = max_batches <= 0 ? avail : std::min<std::size_t>(avail, max_batches);
    for (std::size_t i = 0; i < n; ++i) {
      loader_->val_batch(i, val_);
      model_->set_batch(val_);
      state_.resize(model_->state_size());
      if (run.root()) model_->open_forward(state_.data());
      run.forward(*model_, state_.data(), 0, model_->ode_steps());
      EvalCounts c;
      if (run.root()) {
        model_->close(state_.data(), nullptr);
        c = model_->eval_counts();
      }
      run.share(&c, sizeof c);
      s.add(c);
      visit(val_);
    }
    return s;
  }
  EvalResult eval_counts_only(LayerRunner<float>& run, int max_batches, const char* metric) {
    return eval_loop(run, max_batches, [](const Batch&) {}).result(metric);
  }

  std::unique_ptr<Loader> loader_;
  std::unique_ptr<M> model_;
  std::unique_ptr<M64> model64_;
  Batch batch_, val_, probe_;
  std::vector<float> state_;  // the evaluation's state u_n
};

class GptTask : public LoaderTask<GptLoader, LmBatch, GptModel<float>, GptModel<double>> {
 public:
  explicit GptTask(const RunConfig& cfg) {
    require_family_data(cfg, {"english"});
    lines_ = load_english(cfg.data.dir);
    tok_ = cfg.data.tokenizer == "char" ? Tokenizer::chars(lines_) : Tokenizer::bytes();
    auto o = loader_options<GptDataOptions>(cfg);
    o.seq_len = cfg.model.max_len;
    loader_ = std::make_unique<GptLoader>(lines_, tok_, o);
    require_validation(loader_->val_batches(), data_file(cfg, "english", "english.txt"),
                       lines_.size(), "lines", loader_->val_tokens(), "tokens",
                       "a split needs at least " + std::to_string(o.split_block + 1) +
                           " lines (blocks of " + std::to_string(o.split_block) +
                           ") and a validation part of more than model.seq_len = " +
                           std::to_string(o.seq_len) + " tokens",
                       cfg);
    model_ = std::make_unique<GptModel<float>>(
        model_dims(cfg.model, resolve_vocab(cfg.model.vocab, tok_.vocab_size(), "model.vocab"), 0, 0));
  }
  double items_in_batch() const override { return double(batch_.B) * batch_.T; }
  const char* item_unit() const override { return "tok/s"; }
  EvalResult evaluate(LayerRunner<float>& run, int max_batches) override {
    return eval_counts_only(run, max_batches, "token_accuracy");
  }
  nlohmann::json tokenizers() const override { return {{"text", tok_.to_json()}}; }
  std::string describe() const override {
    char buf[160];
    std::snprintf(buf, sizeof buf, "english: %zu train tokens, %zu validation tokens, vocab %d",
                  loader_->train_tokens(), loader_->val_tokens(), tok_.vocab_size());
    return buf;
  }

 private:
  std::vector<std::string> lines_;
  Tokenizer tok_;
};

class BertTask : public LoaderTask<BertLoader, MlmBatch, BertModel<float>, BertModel<double>> {
 public:
  explicit BertTask(const RunConfig& cfg) {
    require_family_data(cfg, {"english"});
    lines_ = load_english(cfg.data.dir);
    tok_ = bert_tokenizer(cfg, lines_);
    auto o = loader_options<BertDataOptions>(cfg);
    o.seq_len = cfg.model.max_len;
    loader_ = std::make_unique<BertLoader>(lines_, tok_, o);
    require_validation(loader_->val_batches(), data_file(cfg, "english", "english.txt"),
                       lines_.size(), "lines", loader_->val_sequences(), "sequences",
                       "a split needs at least " + std::to_string(o.split_block + 1) +
                           " lines (blocks of " + std::to_string(o.split_block) +
                           ") and one validation sequence",
                       cfg);
    model_ = std::make_unique<BertModel<float>>(
        model_dims(cfg.model, resolve_vocab(cfg.model.vocab, tok_.vocab_size(), "model.vocab"), 0, 0));
  }
  double items_in_batch() const override {
    return double(std::count(batch_.key_mask.begin(), batch_.key_mask.end(), 1));
  }
  const char* item_unit() const override { return "tok/s"; }
  EvalResult evaluate(LayerRunner<float>& run, int max_batches) override {
    return eval_counts_only(run, max_batches, "masked_accuracy");
  }
  nlohmann::json tokenizers() const override { return {{"text", tok_.to_json()}}; }
  std::string describe() const override {
    char buf[160];
    std::snprintf(buf, sizeof buf, "english (masked LM): %zu train sequences, %zu validation, vocab %d",
                  loader_->train_sequences(), loader_->val_sequences(), tok_.vocab_size());
    return buf;
  }

 private:
  std::vector<std::string> lines_;
  Tokenizer tok_;
};

// BERT fine-tuned on a text classification task: the encoder of BertTask (same tokenizer, so a
// masked-LM checkpoint loads with train.init_from) with the classifier head of BertClassifier.
class BertClassifyTask
    : public LoaderTask<TextClassLoader, TextClassBatch, BertClassifier<float>,
                        BertClassifier<double>> {
 public:
  explicit BertClassifyTask(const RunConfig& cfg) {
    require_family_data(cfg, {"fortunes"});
    data_ = load_fortunes(cfg.data.dir);
    require(cfg.model.n_classes == data_.classes(), "model.n_classes = ", cfg.model.n_classes,
            " but fortunes has ", data_.classes(), " classes (", data_file(cfg, "fortunes",
            "meta.json"), "); set model.n_classes = ", data_.classes());
    tok_ = bert_tokenizer(cfg, data_.texts);
    auto o = loader_options<TextClassDataOptions>(cfg);
    o.seq_len = cfg.model.max_len;
    loader_ = std::make_unique<TextClassLoader>(data_, tok_, o);
    require_validation(loader_->val_batches(), data_file(cfg, "fortunes", "fortunes.tsv"),
                       data_.size(), "items", loader_->val_size(), "items",
                       "a split needs at least 2 items", cfg);
    model_ = std::make_unique<BertClassifier<float>>(
        model_dims(cfg.model, resolve_vocab(cfg.model.vocab, tok_.vocab_size(), "model.vocab"), 0, 0));
  }
  double items_in_batch() const override { return batch_.B; }
  const char* item_unit() const override { return "seq/s"; }
  EvalResult evaluate(LayerRunner<float>& run, int max_batches) override {
    return eval_counts_only(run, max_batches, "accuracy");
  }
  nlohmann::json tokenizers() const override { return {{"text", tok_.to_json()}}; }
  std::string describe() const override {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "fortunes (%d classes): %zu train items, %zu validation, vocab %d, %.0f %% of "
                  "the tokens within model.seq_len",
                  data_.classes(), loader_->train_size(), loader_->val_size(), tok_.vocab_size(),
                  100 * loader_->kept_fraction());
    return buf;
  }

 private:
  LabeledTexts data_;
  Tokenizer tok_;
};

class VitTask : public LoaderTask<ImageLoader, ImageBatch, VitModel<float>, VitModel<double>> {
 public:
  explicit VitTask(const RunConfig& cfg) : name_(cfg.data.name) {
    require_family_data(cfg, {"fashion_mnist", "digits"});
    const bool fashion = cfg.data.name == "fashion_mnist";
    ImageSet pool = load_image_set(cfg.data.dir, cfg.data.name, fashion ? "train" : "all");
    const std::array<int, 3> im{cfg.model.channels, cfg.model.image_h, cfg.model.image_w};
    require(im[0] == pool.C && im[1] == pool.H && im[2] == pool.W, "model.image = [", im[0], ", ",
            im[1], ", ", im[2], "] but ", cfg.data.name, " images are [", pool.C, ", ", pool.H,
            ", ", pool.W, "]; set model.image to match");
    require(cfg.model.n_classes == pool.classes, "model.n_classes = ", cfg.model.n_classes,
            " but ", cfg.data.name, " has ", pool.classes, " classes");
    const std::string images = data_file(cfg, cfg.data.name.c_str(),
                                         fashion ? "train_images.u8" : "all_images.u8");
    const std::size_t n = std::size_t(pool.n);
    loader_ = std::make_unique<ImageLoader>(std::move(pool), loader_options<ImageDataOptions>(cfg));
    require_validation(loader_->val_batches(), images, n, "images", loader_->val_size(), "images",
                       "a split needs at least 2 images", cfg);
    model_ = std::make_unique<VitModel<float>>(model_dims(cfg.model, 0, 0, 0));
  }
  double items_in_batch() const override { return batch_.B; }
  const char* item_unit() const override { return "img/s"; }
  EvalResult evaluate(LayerRunner<float>& run, int max_batches) override {
    return eval_counts_only(run, max_batches, "accuracy");
  }
  nlohmann::json tokenizers() const override { return nullptr; }
  std::string describe() const override {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: %zu train images, %zu validation images", name_.c_str(),
                  loader_->train_size(), loader_->val_size());
    return buf;
  }

 private:
  std::string name_;
};

class MtTask : public LoaderTask<TranslationLoader, Seq2SeqBatch, MtModel<float>, MtModel<double>> {
 public:
  explicit MtTask(const RunConfig& cfg) : max_tgt_(cfg.model.tgt_max_len) {
    require_family_data(cfg, {"en_es"});
    pairs_ = load_en_es(cfg.data.dir);
    auto o = loader_options<TranslationDataOptions>(cfg);
    o.max_src = cfg.model.src_max_len;
    o.max_tgt = cfg.model.tgt_max_len;
    // One vocabulary per language, not one shared: the model has separate source and target
    // embeddings (nothing to tie), so sharing would only split data.bpe_vocab between English
    // and Spanish pieces and shorten neither side's sequences as much.
    if (cfg.data.tokenizer == "bpe") {
      const Split split = translation_split(pairs_.size(), o);  // the loader's split, below
      std::tie(src_tok_, tgt_tok_) = translation_bpe_tokenizers(pairs_, split.train,
                                                                cfg.data.bpe_vocab, false);
    } else if (cfg.data.tokenizer == "char") {
      std::tie(src_tok_, tgt_tok_) = translation_tokenizers(pairs_, /*shared=*/false);
    } else {
      const Tokenizer bytes = Tokenizer::bytes({kPad, kBos, kEos, kUnk});
      src_tok_ = tgt_tok_ = bytes;
    }
    loader_ = std::make_unique<TranslationLoader>(pairs_, src_tok_, tgt_tok_, o);
    require_validation(loader_->val_batches(), data_file(cfg, "en_es", "en_es.tsv"),
                       pairs_.size(), "pairs", loader_->val_size(), "pairs",
                       "a split needs at least 2 pairs", cfg);
    model_ = std::make_unique<MtModel<float>>(model_dims(
        cfg.model, 0, resolve_vocab(cfg.model.vocab, src_tok_.vocab_size(), "model.vocab"),
        resolve_vocab(cfg.model.vocab, tgt_tok_.vocab_size(), "model.vocab")));
  }
  double items_in_batch() const override {
    return double(std::count_if(batch_.tgt_out.begin(), batch_.tgt_out.end(),
                                [](token_t t) { return t != kIgnoreIndex; }));
  }
  const char* item_unit() const override { return "tok/s"; }
  // Teacher-forced loss over the batches, then BLEU of greedy translations of the same sentences.
  EvalResult evaluate(LayerRunner<float>& run, int max_batches) override {
    std::vector<std::string> hyps, refs;
    const token_t bos = tgt_tok_.id(kBos), eos = tgt_tok_.id(kEos);
    const EvalSum s = eval_loop(run, max_batches, [&](const Seq2SeqBatch& v) {
      const auto out =
          model_->greedy_decode(v.src, v.src_mask, v.B, v.Ts, max_tgt_, bos, eos, &run);
      for (int b = 0; b < v.B; ++b) {
        hyps.push_back(tgt_tok_.decode(out.data() + std::size_t(b) * max_tgt_,
                                       std::size_t(max_tgt_), /*skip_specials=*/true));
        refs.push_back(loader_->val_reference(refs.size()));
      }
    });
    EvalResult r = s.result("bleu");
    r.metric = corpus_bleu(hyps, refs);
    return r;
  }
  nlohmann::json tokenizers() const override {
    return {{"source", src_tok_.to_json()}, {"target", tgt_tok_.to_json()}};
  }
  std::string describe() const override {
    char buf[160];
    std::snprintf(buf, sizeof buf, "en_es: %zu train pairs, %zu validation pairs, vocab %d/%d",
                  loader_->train_size(), loader_->val_size(), src_tok_.vocab_size(),
                  tgt_tok_.vocab_size());
    return buf;
  }

 private:
  int max_tgt_ = 0;
  PairSet pairs_;
  Tokenizer src_tok_, tgt_tok_;
};

}  // namespace

std::unique_ptr<Task> make_task(const RunConfig& cfg) {
  switch (cfg.model.family) {
    case Family::gpt: return std::make_unique<GptTask>(cfg);
    case Family::bert:
      if (cfg.data.name == "fortunes") return std::make_unique<BertClassifyTask>(cfg);
      return std::make_unique<BertTask>(cfg);
    case Family::vit: return std::make_unique<VitTask>(cfg);
    case Family::mt: return std::make_unique<MtTask>(cfg);
  }
  fail("unknown model.family");
}

}  // namespace lpt
