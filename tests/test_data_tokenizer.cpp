// Tokenizer, CRC-32, RNG and loader-state text: the pieces every data set shares.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <unistd.h>

#include "input/files.hpp"
#include "input/rng.hpp"
#include "input/split.hpp"
#include "input/tokenizer.hpp"
#include "util/error.hpp"
#include "data_fixture.hpp"

using namespace lpt;

namespace {
// A fresh empty file under /tmp; the caller removes it.
std::string temp_file() {
  char buf[] = "/tmp/lpt_tok_XXXXXX";
  const int fd = mkstemp(buf);
  EXPECT_GE(fd, 0);
  close(fd);
  return buf;
}

using test::error_of;
}  // namespace

TEST(DataTokenizer, BytesAreOffsetBySpecials) {
  const std::string text = "Añ\n€x";  // multi-byte UTF-8 survives byte-level round trips
  const Tokenizer plain = Tokenizer::bytes();
  EXPECT_EQ(plain.vocab_size(), 256);
  const auto ids = plain.encode(text);
  ASSERT_EQ(ids.size(), text.size());
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], (unsigned char)text[i]);
  EXPECT_EQ(plain.decode(ids), text);

  const Tokenizer bert = Tokenizer::bytes({kPad, kMask});
  EXPECT_EQ(bert.vocab_size(), 258);
  EXPECT_EQ(bert.id(kPad), 0);
  EXPECT_EQ(bert.id(kMask), 1);
  const auto ids2 = bert.encode(text);
  EXPECT_EQ(ids2[0], 2 + 'A');
  EXPECT_EQ(bert.decode(ids2), text);
  std::vector<token_t> with_mask = {bert.id(kMask), ids2[0]};
  EXPECT_EQ(bert.decode(with_mask), "[MASK]A");
  EXPECT_EQ(bert.decode(with_mask, true), "A");
}

TEST(DataTokenizer, CharVocabularyIsSortedCodePointsAfterSpecials) {
  const Tokenizer t = Tokenizer::chars({"baña", "¿ab?"}, {kPad, kBos, kEos, kUnk});
  // code points: '\n' < '?' < 'a' < 'b' < '¿' (U+BF) < 'ñ' (U+F1)
  EXPECT_EQ(t.vocab_size(), 4 + 6);
  const auto ids = t.encode("¿baña?");
  const std::vector<token_t> want = {8, 7, 6, 9, 6, 5};
  EXPECT_EQ(ids, want);
  EXPECT_EQ(t.decode(ids), "¿baña?");
  EXPECT_EQ(t.encode("z")[0], t.id(kUnk));  // unseen char
  EXPECT_THROW(t.id(kMask), Error);

  const Tokenizer no_unk = Tokenizer::chars({"ab"});
  EXPECT_EQ(no_unk.decode(no_unk.encode("a\nb")), "a\nb");  // newline is always a symbol
  EXPECT_NE(error_of([&] { no_unk.encode("abc"); }).find("not in the vocabulary"),
            std::string::npos);
}

TEST(DataTokenizer, JsonRoundTripKeepsIds) {
  const std::string text = "In the beginning, God created. ¡Sí! “quoted”";
  for (const Tokenizer& t : {Tokenizer::chars({text}, {kPad, kMask, kUnk}),
                             Tokenizer::bytes({kPad, kMask})}) {
    const std::string path = temp_file();
    t.save(path);
    const Tokenizer u = Tokenizer::load(path);
    EXPECT_EQ(u.vocab_size(), t.vocab_size());
    EXPECT_EQ(u.kind(), t.kind());
    EXPECT_EQ(u.specials(), t.specials());
    EXPECT_EQ(u.encode(text), t.encode(text));
    EXPECT_EQ(u.decode(u.encode(text)), text);
    std::remove(path.c_str());
  }
}

TEST(DataTokenizer, MalformedInputsAreErrors) {
  EXPECT_THROW(Tokenizer::chars({std::string("ok\xc3")}), Error);   // truncated sequence
  EXPECT_THROW(Tokenizer::chars({std::string("\xc0\x80")}), Error); // overlong NUL
  EXPECT_THROW(Tokenizer::bytes({kPad, kPad}), Error);
  const std::string path = temp_file();
  {
    std::ofstream f(path);
    f << "{\"format\": \"lpt-tokenizer-1\", \"kind\": \"char\", \"specials\": []";
  }
  EXPECT_NE(error_of([&] { Tokenizer::load(path); }).find(path), std::string::npos);
  {
    std::ofstream f(path);
    f << R"({"format": "lpt-tokenizer-1", "kind": "char", "specials": [], "code_points": [98, 97]})";
  }
  EXPECT_NE(error_of([&] { Tokenizer::load(path); }).find("increasing"), std::string::npos);
  std::remove(path.c_str());
  EXPECT_THROW(Tokenizer::load("/nonexistent/tok.json"), Error);
}

TEST(DataFiles, Crc32MatchesZlibCheckValue) {
  EXPECT_EQ(crc32("123456789", 9), 0xcbf43926u);
  // Running value: two halves give the whole.
  EXPECT_EQ(crc32("6789", 4, crc32("12345", 5)), 0xcbf43926u);
  EXPECT_EQ(crc32("", 0), 0u);
}

TEST(DataRng, DeterministicAndInRange) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    differs |= x != c.next();
  }
  EXPECT_TRUE(differs);
  std::vector<int> count(7, 0);
  for (int i = 0; i < 70000; ++i) ++count[a.below(7)];
  for (int k = 0; k < 7; ++k) EXPECT_NEAR(count[k], 10000, 400);
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(DataSplit, StateTextRoundTrip) {
  const std::vector<std::uint64_t> s = {0, 1, 0xffffffffffffffffULL, 0x1234abcdULL};
  EXPECT_EQ(state_to_string(s), "0:1:ffffffffffffffff:1234abcd");
  EXPECT_EQ(state_from_string(state_to_string(s)), s);
  EXPECT_THROW(state_from_string("12:xyz"), Error);
  EXPECT_THROW(state_from_string("12::3"), Error);
}
