#include <gtest/gtest.h>

#include <cmath>

#include "train/bleu.hpp"
#include "util/error.hpp"

using lpt::corpus_bleu;

TEST(Bleu, IdenticalCorpusScoresHundred) {
  EXPECT_NEAR(corpus_bleu({"the cat sat on the mat"}, {"the cat sat on the mat"}), 100.0, 1e-9);
}

TEST(Bleu, NoFourGramMatchScoresZero) {
  EXPECT_EQ(corpus_bleu({"a b c"}, {"a b c d e"}), 0.0);  // no 4-gram in the hypothesis
}

TEST(Bleu, HandComputedPrecisionsAndBrevityPenalty) {
  // hyp: "a b c d e f" (6 words), ref: "a b c d x f g" (7 words).
  // 1-grams 5/6, 2-grams 3/5, 3-grams 2/4, 4-grams 1/3; BP = exp(1 - 7/6).
  const double p = std::exp((std::log(5.0 / 6) + std::log(3.0 / 5) + std::log(2.0 / 4) +
                             std::log(1.0 / 3)) / 4);
  const double expect = 100.0 * std::exp(1.0 - 7.0 / 6.0) * p;
  EXPECT_NEAR(corpus_bleu({"a b c d e f"}, {"a b c d x f g"}), expect, 1e-9);
}

TEST(Bleu, CountsAreClippedByTheReference) {
  // "the the the the" against "the cat": unigram precision 1/4, no bigram match -> 0.
  EXPECT_EQ(corpus_bleu({"the the the the"}, {"the cat"}), 0.0);
}

TEST(Bleu, SizesMustMatch) { EXPECT_THROW(corpus_bleu({"a"}, {}), lpt::Error); }
