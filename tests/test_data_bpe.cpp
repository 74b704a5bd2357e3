// The BPE tokenizer: pre-split, merges learned by hand-checkable rules, exact round trips, JSON,
// and that a translation vocabulary is learned from the training pairs alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "input/bpe.hpp"
#include "input/split.hpp"
#include "input/text.hpp"
#include "input/tokenizer.hpp"
#include "input/translation.hpp"
#include "util/error.hpp"
#include "data_fixture.hpp"

using namespace lpt;

namespace {

using test::error_of;

std::vector<std::string> pieces_of(const std::string& text) {
  const std::vector<char32_t> cps = utf8_decode(text);
  std::vector<std::pair<std::size_t, std::size_t>> p;
  bpe_pieces(cps, p);
  std::vector<std::string> out;
  for (const auto& [b, e] : p) {
    std::string s;
    for (std::size_t i = b; i < e; ++i) utf8_append(s, cps[i]);
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST(DataBpe, PiecesCarryTheirLeadingSpaceAndCoverTheText) {
  EXPECT_EQ(pieces_of("In the beginning, God"),
            (std::vector<std::string>{"In", " the", " beginning", ",", " God"}));
  // Accented letters stay in their word; ¿ and the quotes are punctuation; a space run keeps
  // all but its last space as pieces of their own.
  EXPECT_EQ(pieces_of("¿Qué  dijo?” él\n"),
            (std::vector<std::string>{"¿", "Qué", " ", " dijo", "?”", " él", "\n"}));
  EXPECT_TRUE(pieces_of("").empty());
}

// "ab cd ab cd": words "ab" x1, " cd" x2, " ab" x1 over the symbols ' ' 0, a 1, b 2, c 3, d 4.
// Pair counts (a,b) 2, (' ',c) 2, (c,d) 2, (' ',a) 1: a three-way tie that the smaller left id
// breaks, (' ',c) -> 5; then (a,b) 2 and (5,d) 2 tie and the left id 1 wins, (a,b) -> 6; then
// (5,d) -> 7; what is left, (' ',6), occurs once, below the minimum count of 2.
TEST(DataBpe, MergesFollowCountThenSmallerIds) {
  BpeTrainer t;
  t.add("ab cd ab cd");
  const BpeRules r = t.learn(100);
  EXPECT_EQ(r.chars, (std::vector<char32_t>{' ', 'a', 'b', 'c', 'd'}));
  ASSERT_EQ(r.merges.size(), 3u);
  EXPECT_EQ(r.merges[0], (std::array<std::int32_t, 2>{0, 3}));
  EXPECT_EQ(r.merges[1], (std::array<std::int32_t, 2>{1, 2}));
  EXPECT_EQ(r.merges[2], (std::array<std::int32_t, 2>{5, 4}));
  EXPECT_EQ(t.learn(2).merges.size(), 2u);  // a cap stops it early, keeping the order

  // As a tokenizer the ids shift by the specials; vocab_size caps the merges the same way.
  const Tokenizer tok = Tokenizer::bpe({"ab cd ab cd"}, 2 + 5 + 3, {kPad, kUnk});
  EXPECT_EQ(tok.vocab_size(), 10);
  EXPECT_EQ(tok.encode("ab cd"), (std::vector<token_t>{2 + 6, 2 + 7}));
  EXPECT_EQ(tok.decode({2 + 5}), " c");
  // " abab" is one piece: (a,b) applies to both occurrences, nothing joins ' ' to "ab".
  EXPECT_EQ(tok.encode(" abab"), (std::vector<token_t>{2 + 0, 2 + 6, 2 + 6}));
  EXPECT_EQ(Tokenizer::bpe({"ab cd ab cd"}, 2 + 5 + 2, {kPad, kUnk}).vocab_size(), 9);
}

TEST(DataBpe, LearningIsDeterministicAndOrderFree) {
  const std::vector<std::string> a = {"the cat sat on the mat", "the dog sat on the log",
                                      "¿dónde está el gato?", "el perro está en la alfombra"};
  std::vector<std::string> b(a.rbegin(), a.rend());
  const Tokenizer x = Tokenizer::bpe(a, 60, {kPad, kUnk});
  EXPECT_EQ(x.to_json(), Tokenizer::bpe(a, 60, {kPad, kUnk}).to_json());
  EXPECT_EQ(x.to_json(), Tokenizer::bpe(b, 60, {kPad, kUnk}).to_json());
  EXPECT_GE(x.to_json()["merges"].size(), 5u);  // " the", " sat", " on", "está", ... were learned
}

TEST(DataBpe, RoundTripsAnyTextAndMapsUnseenCharactersToUnk) {
  const std::vector<std::string> train = {"In the beginning God created the heavens and the earth.",
                                          "En el principio crió Dios los cielos y la tierra.",
                                          "«¿Y quién?»—dijo él, ‘no’ \t  sé\n"};
  const Tokenizer tok = Tokenizer::bpe(train, 200, {kPad, kBos, kEos, kUnk});
  for (const std::string& s : std::vector<std::string>{"", " ", "   leading and trailing   ",
                                                       "the the the\n\nearth", "Dios—él, ¿sé?\t«»",
                                                       "tierracreatedheavens", "a\tb\n c  d"})
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << s;
  for (const auto& s : train) EXPECT_EQ(tok.decode(tok.encode(s)), s);

  // 'z', 'ñ' and '€' never occur in the training text.
  const std::vector<token_t> ids = tok.encode("zorro ñu €5");
  const token_t unk = tok.id(kUnk);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), unk), 4);  // z, ñ, €, 5
  EXPECT_EQ(tok.decode(ids), "[UNK]orro [UNK]u [UNK][UNK]");
  EXPECT_EQ(tok.decode(ids, /*skip_specials=*/true), "orro u ");

  const Tokenizer no_unk = Tokenizer::bpe(train, 200, {kPad});
  EXPECT_NE(error_of([&] { no_unk.encode("zorro"); }).find("no [UNK]"), std::string::npos);
  EXPECT_NE(error_of([&] { tok.encode(std::string("a\xff")); }).find("invalid UTF-8"),
            std::string::npos);
}

TEST(DataBpe, JsonRoundTripGivesIdenticalEncodings) {
  const std::vector<std::string> train = {"el que tiene oídos para oír, oiga",
                                          "he who has ears to hear, let him hear"};
  const Tokenizer tok = Tokenizer::bpe(train, 80, {kPad, kBos, kEos, kUnk});
  const nlohmann::json j = tok.to_json();
  EXPECT_EQ(j["kind"], "bpe");
  EXPECT_EQ(j["format"], "lpt-tokenizer-1");
  EXPECT_EQ(j["vocab_size"], tok.vocab_size());
  const Tokenizer back = Tokenizer::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(back.kind(), Tokenizer::Kind::bpe);
  EXPECT_EQ(back.vocab_size(), tok.vocab_size());
  for (const std::string& s : std::vector<std::string>{train[0], train[1], "oír hear ¿x?"}) {
    EXPECT_EQ(back.encode(s), tok.encode(s));
    EXPECT_EQ(back.decode(back.encode(s)), tok.decode(tok.encode(s)));
  }

  // A merge that names a symbol made after it, or a repeated merge, is refused with its index.
  nlohmann::json bad = j;
  bad["merges"][0] = {4, int(j["vocab_size"]) - 1};
  EXPECT_NE(error_of([&] { Tokenizer::from_json(bad); }).find("BPE merge 0"), std::string::npos);
  bad = j;
  bad["merges"][1] = j["merges"][0];
  EXPECT_NE(error_of([&] { Tokenizer::from_json(bad); }).find("repeats"), std::string::npos);
}

TEST(DataBpe, SizeBelowTheBaseSymbolsIsAClearError) {
  const std::string e = error_of([] { Tokenizer::bpe({"abc abc"}, 5, {kPad, kBos, kEos, kUnk}); });
  EXPECT_NE(e.find("smaller than the 4 specials + 4 distinct characters"), std::string::npos) << e;
  EXPECT_NE(e.find("at least 8"), std::string::npos) << e;
}

// The vocabulary depends on the training pairs only: rewriting every validation pair (new words,
// new characters) leaves both tokenizers byte-identical; rewriting a training pair does not.
TEST(DataBpe, TranslationVocabularyIgnoresTheValidationPairs) {
  PairSet p;
  for (int i = 0; i < 60; ++i) {
    p.keys.push_back("k" + std::to_string(i));
    p.en.push_back("and the lord said unto moses " + std::to_string(i % 9));
    p.es.push_back("y el señor dijo a moisés " + std::to_string(i % 9));
  }
  TranslationDataOptions o;
  o.val_fraction = 0.2;
  o.split_seed = 3;
  const Split split = translation_split(p.size(), o);
  ASSERT_FALSE(split.val.empty());
  const auto [src, tgt] = translation_bpe_tokenizers(p, split.train, 60, false);
  EXPECT_EQ(src.kind(), Tokenizer::Kind::bpe);
  EXPECT_NE(src.to_json(), tgt.to_json());  // one per language

  PairSet q = p;
  for (std::size_t k : split.val) {
    q.en[k] = "zebras quickly jumped over the wall";
    q.es[k] = "las cebras saltaron rápidamente el muro ñ";
  }
  const auto [src2, tgt2] = translation_bpe_tokenizers(q, split.train, 60, false);
  EXPECT_EQ(src2.to_json(), src.to_json());
  EXPECT_EQ(tgt2.to_json(), tgt.to_json());
  EXPECT_EQ(src2.decode(src2.encode(q.en[split.val[0]]), true).find('z'), std::string::npos);

  q = p;
  q.en[split.train[0]] = "zebras zebras zebras";
  EXPECT_NE(translation_bpe_tokenizers(q, split.train, 60, false).first.to_json(), src.to_json());

  const auto [a, b] = translation_bpe_tokenizers(p, split.train, 60, true);
  EXPECT_EQ(a.to_json(), b.to_json());  // shared: one vocabulary for both sides
}
