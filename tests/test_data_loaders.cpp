// The data loaders on tiny data sets written here in the documented format (docs/data.md), so
// these tests never need the real prepared data: batch layouts, masking statistics, splits,
// resume, and the errors for missing or corrupt files.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "input/bert.hpp"
#include "input/classify.hpp"
#include "input/files.hpp"
#include "input/gpt.hpp"
#include "input/image.hpp"
#include "input/text.hpp"
#include "input/translation.hpp"
#include "util/error.hpp"
#include "data_fixture.hpp"

using namespace lpt;

namespace {

using test::TempDir;
using test::write_dataset;
using test::write_file;

std::vector<std::string> numbered_lines(int n) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) lines.push_back("<" + std::to_string(i) + "> line text " +
                                              std::string(i % 7, 'x'));
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

using test::error_of;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

// ---- splits -------------------------------------------------------------------------------

TEST(DataSplit, DeterministicDisjointAndComplete) {
  const auto a = split_items(1000, 0.1, 7, 10), b = split_items(1000, 0.1, 7, 10);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_EQ(a.val.size(), 100u);
  std::set<std::size_t> all(a.train.begin(), a.train.end());
  for (auto v : a.val) EXPECT_TRUE(all.insert(v).second) << "item " << v << " in both";
  EXPECT_EQ(all.size(), 1000u);
  for (auto v : a.val) EXPECT_TRUE(std::binary_search(a.val.begin(), a.val.end(), v / 10 * 10))
      << "blocks of 10 stay whole";
  EXPECT_NE(split_items(1000, 0.1, 8, 10).val, a.val);
  EXPECT_EQ(split_items(5, 0.01, 0).val.size(), 1u);  // small sets still validate
  EXPECT_TRUE(split_items(5, 0.0, 0).val.empty());
}

TEST(DataSplit, EpochOrderVisitsEveryItemOncePerEpoch) {
  EpochOrder o(50, 3);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::set<std::size_t> seen;
    for (int i = 0; i < 50; ++i) seen.insert(o.next());
    EXPECT_EQ(seen.size(), 50u);
  }
  EpochOrder p(50, 3);
  std::vector<std::size_t> first, second;
  for (int i = 0; i < 50; ++i) first.push_back(p.next());
  for (int i = 0; i < 50; ++i) second.push_back(p.next());
  EXPECT_NE(first, second) << "every epoch draws a new permutation";
  EpochOrder q(50, 3);
  q.restore(1, 10);  // mid-epoch restore continues the same permutation
  for (int i = 10; i < 50; ++i) EXPECT_EQ(q.next(), second[i]);
}

// ---- GPT ----------------------------------------------------------------------------------

TEST(DataGpt, WindowsComeFromTrainLinesAndTargetsShiftByOne) {
  const auto lines = numbered_lines(400);
  GptDataOptions o;
  o.batch = 16, o.seq_len = 24, o.seed = 5, o.val_fraction = 0.1, o.split_seed = 1, o.split_block = 8;
  const Tokenizer tok = Tokenizer::bytes();
  GptLoader L(lines, tok, o);
  const std::string train = tok.decode(encode_stream(lines, L.split().train, tok));
  std::set<std::size_t> val_lines(L.split().val.begin(), L.split().val.end());
  LmBatch b;
  for (int step = 0; step < 20; ++step) {
    L.next(b);
    ASSERT_EQ(b.B, 16);
    ASSERT_EQ(b.T, 24);
    ASSERT_EQ(b.tokens.size(), 16u * 24u);
    for (int r = 0; r < b.B; ++r) {
      const token_t* x = &b.tokens[r * b.T];
      const token_t* y = &b.targets[r * b.T];
      for (int t = 0; t + 1 < b.T; ++t) EXPECT_EQ(y[t], x[t + 1]);
      std::vector<token_t> w(x, x + b.T);
      w.push_back(y[b.T - 1]);
      EXPECT_TRUE(contains(train, tok.decode(w))) << "window not in the training stream";
    }
  }
  // Validation windows tile the validation stream in order.
  const auto val = encode_stream(lines, L.split().val, tok);
  std::size_t at = 0;
  for (std::size_t i = 0; i < L.val_batches(); ++i) {
    L.val_batch(i, b);
    for (int r = 0; r < b.B; ++r, at += b.T)
      for (int t = 0; t < b.T; ++t) {
        ASSERT_EQ(b.tokens[r * b.T + t], val[at + t]);
        ASSERT_EQ(b.targets[r * b.T + t], val[at + t + 1]);
      }
  }
  EXPECT_EQ(at / o.seq_len, L.val_windows());
  EXPECT_EQ(L.val_windows(), (val.size() - 1) / o.seq_len);
}

TEST(DataGpt, ResumeGivesIdenticalBatchesAndStorageIsReused) {
  const auto lines = numbered_lines(300);
  GptDataOptions o;
  o.batch = 4, o.seq_len = 16, o.seed = 11;
  const Tokenizer tok = Tokenizer::chars(lines);  // as lpt train builds it: from the lines
  GptLoader a(lines, tok, o);
  LmBatch b;
  a.next(b);
  const token_t* storage = b.tokens.data();
  for (int i = 0; i < 5; ++i) a.next(b);
  EXPECT_EQ(b.tokens.data(), storage) << "a training step reallocated the batch";
  const std::string saved = state_to_string(a.state());
  std::vector<std::vector<token_t>> expect;
  for (int i = 0; i < 4; ++i) {
    a.next(b);
    expect.push_back(b.tokens);
    expect.push_back(b.targets);
  }
  GptLoader c(lines, tok, o);
  c.set_state(state_from_string(saved));
  for (int i = 0; i < 4; ++i) {
    c.next(b);
    EXPECT_EQ(b.tokens, expect[2 * i]);
    EXPECT_EQ(b.targets, expect[2 * i + 1]);
  }
  GptDataOptions other = o;
  other.seq_len = 17;
  GptLoader d(lines, tok, other);
  EXPECT_TRUE(contains(error_of([&] { d.set_state(state_from_string(saved)); }), "other data"));
  EXPECT_THROW(c.set_state({1, 2, 3}), Error);
}

TEST(DataGpt, SeedChangesOrderButNotSplit) {
  const auto lines = numbered_lines(300);
  GptDataOptions o;
  o.batch = 2, o.seq_len = 8;
  const Tokenizer tok = Tokenizer::bytes();
  GptLoader a(lines, tok, o);
  o.seed = 1;
  GptLoader b(lines, tok, o);
  EXPECT_EQ(a.split().val, b.split().val);
  LmBatch x, y;
  a.next(x);
  b.next(y);
  EXPECT_NE(x.tokens, y.tokens);
}

// ---- BERT ---------------------------------------------------------------------------------

TEST(DataBert, MaskingFollows80_10_10AndSkipsPadding) {
  const int T = 64, rows = 4000, lo = 5, hi = 105;  // 100 ordinary tokens
  const token_t mask_id = 1, pad = 0;
  Rng rng(9);
  MlmRule rule;
  std::vector<token_t> tok(T), tgt(T);
  std::vector<std::uint8_t> km(T);
  long real = 0, selected = 0, masked = 0, replaced = 0, kept = 0;
  for (int r = 0; r < rows; ++r) {
    const int len = 1 + r % T;  // every length, so padding occupies every position sometime
    for (int t = 0; t < T; ++t) {
      km[t] = t < len;
      tok[t] = t < len ? lo + (t * 7 + r) % (hi - lo) : pad;
    }
    const auto orig = tok;
    const int s = mlm_mask_row(tok.data(), tgt.data(), km.data(), T, rule, mask_id, lo, hi, rng);
    EXPECT_GE(s, 1);
    int count = 0;
    for (int t = 0; t < T; ++t) {
      if (!km[t]) {
        ASSERT_EQ(tgt[t], kIgnoreIndex) << "padding selected";
        ASSERT_EQ(tok[t], pad);
        continue;
      }
      ++real;
      if (tgt[t] == kIgnoreIndex) {
        ASSERT_EQ(tok[t], orig[t]) << "an unselected token changed";
        continue;
      }
      ++count;
      ASSERT_EQ(tgt[t], orig[t]);
      if (tok[t] == mask_id)
        ++masked;
      else if (tok[t] == orig[t])
        ++kept;
      else {
        ASSERT_GE(tok[t], lo);
        ASSERT_LT(tok[t], hi);
        ++replaced;
      }
    }
    EXPECT_EQ(count, s);
    selected += s;
  }
  // Rows of length 1..6 get their forced selection more often than 15 %; allow for it.
  EXPECT_NEAR(double(selected) / real, 0.15, 0.01);
  const double n = double(selected);
  EXPECT_NEAR(masked / n, 0.8, 0.01);
  EXPECT_NEAR(replaced / n, 0.1 * (1 - 1.0 / (hi - lo)), 0.01);  // a random draw may hit itself
  EXPECT_NEAR(kept / n, 0.1 + 0.1 / (hi - lo), 0.01);
}

TEST(DataBert, LineModePadsVersesAndResumes) {
  std::vector<std::string> lines = {"a", "bb", "a much longer verse that exceeds T"};
  for (int i = 0; i < 200; ++i) lines.push_back(std::string(1 + i % 11, char('a' + i % 26)));
  const Tokenizer tok = Tokenizer::chars({joined(lines)}, {kPad, kMask, kUnk});
  BertDataOptions o;
  o.batch = 8, o.seq_len = 12, o.seed = 2, o.val_fraction = 0.1, o.split_block = 4;
  BertLoader L(lines, tok, o);
  // Long lines are cut into pieces of at most T: train pieces >= train lines.
  EXPECT_GE(L.train_sequences(), L.split().train.size());
  MlmBatch b;
  std::set<std::string> train_text;
  for (auto i : L.split().train) train_text.insert(lines[i]);
  for (int step = 0; step < 30; ++step) {
    L.next(b);
    ASSERT_EQ(b.B, 8);
    ASSERT_EQ(b.T, 12);
    for (int r = 0; r < b.B; ++r) {
      int len = 0, sel = 0;
      while (len < b.T && b.key_mask[r * b.T + len]) ++len;
      ASSERT_GE(len, 1);
      for (int t = 0; t < b.T; ++t) {
        const std::size_t k = r * b.T + t;
        if (t >= len) {
          EXPECT_EQ(b.key_mask[k], 0) << "key_mask must be a prefix of ones";
          EXPECT_EQ(b.tokens[k], tok.id(kPad));
          EXPECT_EQ(b.targets[k], kIgnoreIndex);
        }
        sel += b.targets[k] != kIgnoreIndex;
      }
      EXPECT_GE(sel, 1);
      // Undo the masking: the row must be (a piece of) a training line.
      std::vector<token_t> orig(b.tokens.begin() + r * b.T, b.tokens.begin() + r * b.T + len);
      for (int t = 0; t < len; ++t)
        if (b.targets[r * b.T + t] != kIgnoreIndex) orig[t] = b.targets[r * b.T + t];
      const std::string s = tok.decode(orig);
      bool found = false;
      for (const auto& l : train_text) found |= contains(l, s);
      EXPECT_TRUE(found) << "'" << s << "' is not from a training line";
    }
  }
  const auto st = L.state();
  std::vector<std::vector<token_t>> expect;
  for (int i = 0; i < 40; ++i) {  // crosses epoch boundaries (about 200 pieces / 8 per batch)
    L.next(b);
    expect.push_back(b.tokens);
    expect.push_back(b.targets);
  }
  BertLoader M(lines, tok, o);
  M.set_state(st);
  for (int i = 0; i < 40; ++i) {
    M.next(b);
    ASSERT_EQ(b.tokens, expect[2 * i]) << "batch " << i << " after resume";
    ASSERT_EQ(b.targets, expect[2 * i + 1]);
  }
}

TEST(DataBert, ValidationBatchesAreFixed) {
  const auto lines = numbered_lines(200);
  const Tokenizer tok = Tokenizer::bytes({kPad, kMask});
  for (auto mode : {BertDataOptions::Mode::lines, BertDataOptions::Mode::windows}) {
    BertDataOptions o;
    o.mode = mode;
    o.batch = 6, o.seq_len = 20, o.val_fraction = 0.2;
    BertLoader L(lines, tok, o);
    ASSERT_GT(L.val_batches(), 1u);
    MlmBatch a, b;
    std::size_t rows = 0;
    for (std::size_t i = 0; i < L.val_batches(); ++i) {
      L.val_batch(i, a);
      rows += a.B;
      L.next(b);  // training progress must not change validation masks
      L.val_batch(i, b);
      EXPECT_EQ(a.tokens, b.tokens);
      EXPECT_EQ(a.targets, b.targets);
      EXPECT_EQ(a.key_mask, b.key_mask);
    }
    EXPECT_EQ(rows, L.val_sequences());
    if (mode == BertDataOptions::Mode::windows) {
      for (auto m : a.key_mask) EXPECT_EQ(m, 1);
    }
  }
}

// ---- images -------------------------------------------------------------------------------

namespace {
// n images 1×4×4; image i has every pixel = i % 251 and label i % 3.
void write_images(const std::string& dir, int n_train, int n_test) {
  auto part = [](int n) {
    std::string px, lab;
    for (int i = 0; i < n; ++i) {
      px += std::string(16, char(i % 251));
      lab += char(i % 3);
    }
    return std::make_pair(px, lab);
  };
  const auto tr = part(n_train), te = part(n_test);
  write_dataset(dir, "tiny_images",
                {{"train_images.u8", tr.first}, {"train_labels.u8", tr.second},
                 {"test_images.u8", te.first}, {"test_labels.u8", te.second}},
                {{"shape", {1, 4, 4}}, {"classes", 3}, {"pixel_scale", 255.0}, {"mean", 0.25},
                 {"std", 0.5}, {"splits", {{"train", {{"count", n_train}}},
                                           {"test", {{"count", n_test}}}}}});
}
}  // namespace

TEST(DataImage, NormalizedBatchesSplitAndResume) {
  TempDir tmp;
  const std::string& dir = tmp.path;
  write_images(dir, 200, 30);
  ImageSet train = load_image_set(dir, "tiny_images", "train");
  EXPECT_EQ(train.n, 200);
  ImageDataOptions o;
  o.batch = 32, o.seed = 4, o.val_fraction = 0.1;
  ImageLoader L(train, o);
  EXPECT_EQ(L.val_size(), 20u);
  std::set<std::size_t> val(L.split().val.begin(), L.split().val.end());
  ImageBatch b;
  std::set<int> seen;
  const auto st0 = L.state();
  std::vector<std::vector<float>> expect;
  for (int step = 0; step < 5; ++step) {  // 160 of the 180 training images
    L.next(b);
    expect.push_back(b.images);
    ASSERT_EQ(b.B, 32);
    ASSERT_EQ(b.C * b.H * b.W, 16);
    for (int r = 0; r < b.B; ++r) {
      const float x = b.images[r * 16];
      const int i = int(std::lround((x * 0.5f + 0.25f) * 255));  // undo the normalization
      for (int k = 0; k < 16; ++k) EXPECT_NEAR(b.images[r * 16 + k], (i / 255.0 - 0.25) / 0.5, 1e-6);
      EXPECT_EQ(b.labels[r], i % 3);
      EXPECT_EQ(val.count(i), 0u) << "validation image " << i << " in a training batch";
      EXPECT_TRUE(seen.insert(i).second) << "image " << i << " twice in one epoch";
    }
  }
  ImageLoader M(load_image_set(dir, "tiny_images", "train"), o);
  M.set_state(st0);
  for (int step = 0; step < 5; ++step) {
    M.next(b);
    EXPECT_EQ(b.images, expect[step]);
  }
  std::size_t rows = 0;
  for (std::size_t i = 0; i < L.val_batches(); ++i) {
    L.val_batch(i, b);
    for (int r = 0; r < b.B; ++r) EXPECT_EQ(b.labels[r], int(L.split().val[rows + r] % 3));
    rows += b.B;
  }
  EXPECT_EQ(rows, 20u);

  const ImageSet test = load_image_set(dir, "tiny_images", "test");
  EXPECT_EQ(eval_batches(test, 16), 2u);
  eval_batch(test, 16, 1, b);
  EXPECT_EQ(b.B, 14);
  EXPECT_EQ(b.labels[0], 16 % 3);
}

// ---- translation --------------------------------------------------------------------------

TEST(DataTranslation, TeacherForcingLayoutAndTruncation) {
  PairSet p;
  for (int i = 0; i < 60; ++i) {
    p.keys.push_back("K " + std::to_string(i));
    p.en.push_back(std::string(1 + i % 9, 'e'));
    p.es.push_back(std::string(1 + i % 13, 'n') + "ñ");
  }
  const auto [src_tok, tgt_tok] = translation_tokenizers(p, false);
  EXPECT_EQ(src_tok.vocab_size(), 4 + 2);  // specials + '\n', 'e'
  EXPECT_EQ(tgt_tok.vocab_size(), 4 + 3);  // specials + '\n', 'n', 'ñ'
  const auto shared = translation_tokenizers(p, true);
  EXPECT_EQ(shared.first.vocab_size(), 4 + 4);
  TranslationDataOptions o;
  o.batch = 7, o.max_src = 6, o.max_tgt = 8, o.seed = 3, o.val_fraction = 0.2;
  TranslationLoader L(p, src_tok, tgt_tok, o);
  const token_t pad = tgt_tok.id(kPad), bos = tgt_tok.id(kBos), eos = tgt_tok.id(kEos);
  Seq2SeqBatch b;
  for (std::size_t i = 0; i < L.val_batches(); ++i) {
    L.val_batch(i, b);
    for (int r = 0; r < b.B; ++r) {
      const std::size_t k = i * o.batch + r;
      const auto x = src_tok.encode(L.val_source(k));
      const auto y = tgt_tok.encode(L.val_reference(k));
      const int ls = std::min<int>(x.size(), o.max_src);
      for (int t = 0; t < b.Ts; ++t) {
        EXPECT_EQ(b.src_mask[r * b.Ts + t], t < ls);
        EXPECT_EQ(b.src[r * b.Ts + t], t < ls ? x[t] : pad);
      }
      // full = [BOS] y [EOS] cut to Tt + 1
      std::vector<token_t> full = {bos};
      full.insert(full.end(), y.begin(), y.end());
      full.push_back(eos);
      if (int(full.size()) > b.Tt + 1) full.resize(b.Tt + 1);
      const int L1 = int(full.size()) - 1;
      for (int t = 0; t < b.Tt; ++t) {
        EXPECT_EQ(b.tgt_in[r * b.Tt + t], t < L1 ? full[t] : pad);
        EXPECT_EQ(b.tgt_out[r * b.Tt + t], t < L1 ? full[t + 1] : kIgnoreIndex);
      }
      EXPECT_EQ(b.tgt_in[r * b.Tt], bos);
    }
  }
  // Training batches: fixed shape; resume reproduces them.
  const auto st = L.state();
  std::vector<std::vector<token_t>> expect;
  for (int i = 0; i < 12; ++i) {
    L.next(b);
    ASSERT_EQ(b.B, 7);
    ASSERT_EQ(b.Ts, 6);
    ASSERT_EQ(b.Tt, 8);
    expect.push_back(b.tgt_out);
  }
  TranslationLoader M(p, src_tok, tgt_tok, o);
  M.set_state(st);
  for (int i = 0; i < 12; ++i) {
    M.next(b);
    EXPECT_EQ(b.tgt_out, expect[i]);
  }
  TranslationDataOptions rev = o;
  rev.es_to_en = true;
  const auto rt = translation_tokenizers(p, false, true);
  TranslationLoader R(p, rt.first, rt.second, rev);
  EXPECT_EQ(R.val_source(0), L.val_reference(0));
}

// ---- files: formats and errors ------------------------------------------------------------

TEST(DataFiles, TextSetsLoadFromTheDocumentedFormat) {
  TempDir tmp;
  const std::string& dir = tmp.path;
  write_dataset(dir, "english",
                {{"english.txt", "In the beginning.\nGod said.\n"}, {"english_keys.txt", "a\nb\n"},
                 {"extra.txt", "a fortune\n"}},
                {{"lines", 2}});
  EXPECT_EQ(load_english(dir), (std::vector<std::string>{"In the beginning.", "God said."}));
  EXPECT_EQ(load_english(dir, true).back(), "a fortune");
  write_dataset(dir, "en_es", {{"en_es.tsv", "Gen 1:1\tIn the beginning.\tEn el principio.\n"}},
                {{"pairs", 1}});
  const PairSet p = load_en_es(dir);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p.keys[0], "Gen 1:1");
  EXPECT_EQ(p.es[0], "En el principio.");
}

TEST(DataFiles, MissingAndCorruptFilesNameFileAndCommand) {
  TempDir tmp;
  const std::string& dir = tmp.path;
  std::string e = error_of([&] { load_english(dir); });
  EXPECT_TRUE(contains(e, dir + "/english/meta.json")) << e;
  EXPECT_TRUE(contains(e, "bash scripts/prepare_data.sh --only english")) << e;

  write_dataset(dir, "english", {{"english.txt", "one\ntwo\n"}}, {{"lines", 2}});
  write_file(dir + "/english/english.txt", "one\ntwX\n");  // same size, different bytes
  e = error_of([&] { load_english(dir); });
  EXPECT_TRUE(contains(e, dir + "/english/english.txt")) << e;
  EXPECT_TRUE(contains(e, "CRC-32")) << e;
  EXPECT_TRUE(contains(e, "bash scripts/prepare_data.sh --only english")) << e;

  write_file(dir + "/english/english.txt", "one\n");
  e = error_of([&] { load_english(dir); });
  EXPECT_TRUE(contains(e, "bytes")) << e;

  std::remove((dir + "/english/english.txt").c_str());
  e = error_of([&] { load_english(dir); });
  EXPECT_TRUE(contains(e, "english.txt: missing")) << e;

  write_file(dir + "/english/meta.json", "{ not json");
  e = error_of([&] { load_english(dir); });
  EXPECT_TRUE(contains(e, "meta.json")) << e;
  EXPECT_TRUE(contains(e, "--only english")) << e;

  write_dataset(dir, "english", {{"english.txt", "one\ntwo\n"}}, {{"lines", 3}});
  EXPECT_TRUE(contains(error_of([&] { load_english(dir); }), "meta.json says 3")) << e;

  write_dataset(dir, "en_es", {{"en_es.tsv", "k\tonly two fields\n"}}, {{"pairs", 1}});
  e = error_of([&] { load_en_es(dir); });
  EXPECT_TRUE(contains(e, "line 1")) << e;
  EXPECT_TRUE(contains(e, "--only en_es")) << e;

  write_images(dir, 10, 2);
  write_file(dir + "/tiny_images/test_labels.u8", std::string("\x01\x09", 2));
  e = error_of([&] { load_image_set(dir, "tiny_images", "test"); });
  EXPECT_TRUE(contains(e, "test_labels.u8")) << e;
}

// ---- text classification (fortunes) -------------------------------------------------------

TEST(DataClassify, RowsAreCutPaddedLabelledAndResume) {
  TempDir tmp;
  test::write_tiny_fortunes(tmp.path, 300);
  const LabeledTexts d = load_fortunes(tmp.path);
  ASSERT_EQ(d.size(), 300u);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"computers", "food", "law"}));
  EXPECT_EQ(d.labels[0], 0);
  EXPECT_EQ(d.labels[299], 2);
  const Tokenizer tok = Tokenizer::bytes({kPad, kMask});
  TextClassDataOptions o;
  o.batch = 7, o.seq_len = 12, o.seed = 3, o.val_fraction = 0.2, o.split_seed = 5;
  TextClassLoader L(d, tok, o);
  EXPECT_EQ(L.train_size() + L.val_size(), 300u);
  EXPECT_LT(L.kept_fraction(), 1.0);  // some cookies are longer than 12 bytes
  // A row is the item's first seq_len tokens, then [PAD] with key_mask 0; its label is the item's.
  std::map<std::vector<token_t>, std::set<int>> label_of;  // row tokens -> labels of such items
  for (std::size_t k = 0; k < d.size(); ++k) {
    auto ids = tok.encode(d.texts[k]);
    ids.resize(12, tok.id(kPad));
    label_of[ids].insert(d.labels[k]);
  }
  TextClassBatch b;
  std::set<std::vector<token_t>> train_rows;
  for (int step = 0; step < 10; ++step) {
    L.next(b);
    ASSERT_EQ(b.B, 7);
    ASSERT_EQ(b.T, 12);
    for (int r = 0; r < b.B; ++r) {
      std::vector<token_t> row(b.tokens.begin() + r * 12, b.tokens.begin() + (r + 1) * 12);
      ASSERT_TRUE(label_of.count(row)) << "row " << r << " is no item's first 12 tokens";
      EXPECT_TRUE(label_of[row].count(b.labels[r]));
      for (int t = 0; t < 12; ++t)
        EXPECT_EQ(b.key_mask[r * 12 + t], row[t] == tok.id(kPad) ? 0 : 1);
      EXPECT_EQ(b.key_mask[r * 12], 1);
      train_rows.insert(row);
    }
  }
  // Validation: every held-out item once, in an order that mixes the classes (the file groups
  // them), the last batch short.
  std::multiset<std::size_t> seen_labels;
  std::set<int> first_batch_labels;
  std::size_t rows = 0;
  for (std::size_t i = 0; i < L.val_batches(); ++i) {
    L.val_batch(i, b);
    for (int r = 0; r < b.B; ++r) {
      if (i == 0) first_batch_labels.insert(b.labels[r]);
      ++rows;
    }
  }
  EXPECT_EQ(rows, L.val_size());
  EXPECT_EQ(first_batch_labels.size(), 3u) << "the first validation batch holds one class only";
  // Resume: a loader restored from a state continues with the same batches.
  const auto st = L.state();
  TextClassBatch a1, a2;
  L.next(a1);
  TextClassLoader M(d, tok, o);
  M.set_state(st);
  M.next(a2);
  EXPECT_EQ(a1.tokens, a2.tokens);
  EXPECT_EQ(a1.labels, a2.labels);
  TextClassDataOptions other = o;
  other.seq_len = 13;
  TextClassLoader N(d, tok, other);
  EXPECT_TRUE(contains(error_of([&] { N.set_state(st); }), "TextClassLoader"));
}

TEST(DataClassify, MalformedLinesNameFileAndCommand) {
  TempDir tmp;
  write_dataset(tmp.path, "fortunes", {{"fortunes.tsv", "law\tobjection\nsports\tgoal\n"}},
                {{"items", 2}, {"classes", 2}, {"class_names", {"law", "food"}}});
  const std::string e = error_of([&] { load_fortunes(tmp.path); });
  EXPECT_TRUE(contains(e, "fortunes.tsv")) << e;
  EXPECT_TRUE(contains(e, "line 2")) << e;
  EXPECT_TRUE(contains(e, "prepare_data.sh --only fortunes")) << e;
  TempDir none;
  EXPECT_TRUE(contains(error_of([&] { load_fortunes(none.path); }),
                       "prepare_data.sh --only fortunes"));
}

// ---- the preparation script's converters on tiny inputs -----------------------------------

TEST(DataPrepare, ConvertersOutputLoadsInCpp) {
  TempDir tmp;
  const std::string& dir = tmp.path;
  const std::string en_imp = dir + "/en.imp", es_imp = dir + "/es.imp";
  write_file(en_imp,
             "$$$[ Module Heading ]\n\n"
             "$$$Genesis 0:0\n<title type=\"main\">Intro</title> text\n"
             "$$$Genesis 1:1\n<title type=\"x-head\">The Creation</title><w lemma=\"s:1\">In</w> "
             "the beginning, <w>God</w><note placement=\"foot\"><reference>1:1 </reference>"
             "Elohim</note><w>created</w> the heavens &amp; earth.\n"
             "$$$Genesis 1:2\n<div type=\"x-p\"/>\n"
             "$$$Psalms 3:1\n<title canonical=\"true\" type=\"psalm\">A Psalm.</title>"
             "<l level=\"1\" sID=\"x\"/>Yahweh,<l eID=\"x\"/><l sID=\"y\"/>how\tmany!"
             "<div canonical=\"true\" eID=\"g9\" osisID=\"Ps\" type=\"book\"/> <div sID=\"g10\" "
             "type=\"glossary\"/> Abba is a word.\n"
             "$$$Tobit 1:1\nOnly in the deuterocanon.\n");
  write_file(es_imp,
             "$$$Genesis 1:1\n<w>EN el principio</w> crió Dios.\n"
             "$$$Genesis 1:2\nY la tierra.\n"
             "$$$Psalms 3:1\n<transChange>¡OH</transChange> Jehová!\n");
  const std::string script = std::string(LPT_SOURCE_DIR) + "/scripts/data/prepare.py";
  for (const char* name : {"english", "en_es"}) {
    const std::string cmd = std::string(LPT_PYTHON) + " " + script + " " + name + " --out " +
                            dir + " --imp-en " + en_imp + " --imp-es " + es_imp + " > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  const auto lines = load_english(dir);
  const std::vector<std::string> want = {
      "In the beginning, God created the heavens & earth.", "A Psalm. Yahweh, how many!",
      "Only in the deuterocanon."};
  EXPECT_EQ(lines, want);
  const PairSet p = load_en_es(dir);
  ASSERT_EQ(p.size(), 2u);  // Genesis 1:2 is empty in English, Tobit absent in Spanish
  EXPECT_EQ(p.keys[0], "Genesis 1:1");
  EXPECT_EQ(p.es[0], "EN el principio crió Dios.");
  EXPECT_EQ(p.keys[1], "Psalms 3:1");
  EXPECT_EQ(p.es[1], "¡OH Jehová!");
  // Idempotent: a second run leaves the files alone and says so.
  const std::string again = std::string(LPT_PYTHON) + " " + script + " english --out " + dir +
                            " --imp-en " + en_imp + " | grep -q 'up to date'";
  EXPECT_EQ(std::system(again.c_str()), 0);
}

TEST(DataPrepare, ImageConvertersOutputLoadsInCpp) {
  TempDir tmp;
  const std::string& dir = tmp.path;
  // Tiny IDX files in the layout of the Debian package (gzip, big-endian header).
  const std::string make_idx =
      std::string(LPT_PYTHON) + " -c \"import gzip,struct,sys\n"
      "d=sys.argv[1]\n"
      "for stem,n in (('train',5),('t10k',3)):\n"
      "  px=bytes((i*7+k)%256 for i in range(n) for k in range(784))\n"
      "  gzip.open(f'{d}/{stem}-images-idx3-ubyte.gz','wb').write(struct.pack('>4i',0x803,n,28,28)+px)\n"
      "  gzip.open(f'{d}/{stem}-labels-idx1-ubyte.gz','wb').write(struct.pack('>2i',0x801,n)+bytes(i%10 for i in range(n)))\n"
      "\" " + dir;
  ASSERT_EQ(std::system(make_idx.c_str()), 0);
  const std::string cmd = std::string(LPT_PYTHON) + " " + std::string(LPT_SOURCE_DIR) +
                          "/scripts/data/prepare.py fashion_mnist --out " + dir +
                          " --fashion-dir " + dir + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const ImageSet tr = load_image_set(dir, "fashion_mnist", "train");
  const ImageSet te = load_image_set(dir, "fashion_mnist", "test");
  EXPECT_EQ(tr.n, 5);
  EXPECT_EQ(te.n, 3);
  EXPECT_EQ(tr.H, 28);
  EXPECT_EQ(te.labels[2], 2);
  EXPECT_EQ(tr.pixels[784 + 3], (7 + 3) % 256);
  double mean = 0;
  for (auto v : tr.pixels) mean += v / 255.0;
  EXPECT_NEAR(tr.mean, mean / tr.pixels.size(), 1e-6);
}

// The fortune files: each file a category, cookies between '%' lines, whitespace folded; index
// files (.dat), the ASCII-art files and categories below --min-items are left out.
TEST(DataPrepare, FortunesConverterKeepsTheLargeCategories) {
  TempDir tmp;
  const std::string src = tmp.path + "/fortunes";
  mkdir(src.c_str(), 0755);
  write_file(src + "/law", "Objection,\n  overruled.\n%\nThe court\tis in session.\n%\n");
  write_file(src + "/food", "Soup.\n%\nMore soup.\n%\nBread\n%\n");
  write_file(src + "/pets", "Cat.\n%\n");  // one cookie: below --min-items 2
  write_file(src + "/art", "  /\\_/\\\n%\n ( o.o )\n%\n");
  write_file(src + "/law.dat", "binary index");
  const std::string cmd = std::string(LPT_PYTHON) + " " + std::string(LPT_SOURCE_DIR) +
                          "/scripts/data/prepare.py fortunes --out " + tmp.path +
                          " --fortunes-dir " + src + " --min-items 2 > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const LabeledTexts d = load_fortunes(tmp.path);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"food", "law"}));
  EXPECT_EQ(d.texts, (std::vector<std::string>{"Soup.", "More soup.", "Bread", "Objection, overruled.",
                                               "The court is in session."}));
  EXPECT_EQ(d.labels, (std::vector<int>{0, 0, 0, 1, 1}));
}

// ---- the real prepared data (LPT_LONG_TESTS=1, after bash scripts/prepare_data.sh) ----------

TEST(DataReal, LongPreparedDataSetsLoad) {
  const char* env = std::getenv("LPT_LONG_TESTS");
  if (!env || std::string(env) != "1") GTEST_SKIP() << "set LPT_LONG_TESTS=1 (needs prepared data)";
  const std::string dir = default_data_dir();
  const auto lines = load_english(dir);
  EXPECT_GT(lines.size(), 30000u);
  const Tokenizer bytes = Tokenizer::bytes();
  GptDataOptions g;
  g.batch = 32, g.seq_len = 256;
  GptLoader gpt(lines, bytes, g);
  LmBatch lb;
  gpt.next(lb);
  EXPECT_GT(gpt.val_batches(), 10u);
  const Tokenizer chars = Tokenizer::chars({joined(lines)}, {kPad, kMask, kUnk});
  BertLoader bert(lines, chars, BertDataOptions{});
  MlmBatch mb;
  bert.next(mb);
  const PairSet pairs = load_en_es(dir);
  EXPECT_GT(pairs.size(), 30000u);
  const auto tt = translation_tokenizers(pairs, true);
  TranslationLoader tr(pairs, tt.first, tt.second, TranslationDataOptions{});
  Seq2SeqBatch sb;
  tr.next(sb);
  ImageLoader fm(load_image_set(dir, "fashion_mnist", "train"), ImageDataOptions{});
  EXPECT_EQ(fm.train_size() + fm.val_size(), 60000u);
  EXPECT_EQ(load_image_set(dir, "fashion_mnist", "test").n, 10000);
  ImageLoader dg(load_image_set(dir, "digits", "all"), ImageDataOptions{});
  EXPECT_EQ(dg.train_size() + dg.val_size(), 1797u);
  ImageBatch ib;
  double sum = 0, sq = 0;
  for (int s = 0; s < 100; ++s) {
    fm.next(ib);
    for (float x : ib.images) sum += x, sq += double(x) * x;
  }
  const double n = 100.0 * ib.images.size();
  EXPECT_NEAR(sum / n, 0.0, 0.05);  // normalized pixels: mean ~0, std ~1
  EXPECT_NEAR(std::sqrt(sq / n - (sum / n) * (sum / n)), 1.0, 0.05);
}
