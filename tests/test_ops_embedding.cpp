#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/ops/embedding.hpp"
#include "tests/gradcheck.hpp"
#include "util/error.hpp"

using lpt::test::grad_check;
using lpt::test::random_vector;

namespace {

TEST(OpsEmbedding, ForwardIsLookupPlusPosition) {
  const int B = 2, T = 3, C = 5, V = 4;
  auto wte = random_vector(V * C, 1), wpe = random_vector(T * C, 2);
  const std::vector<std::int64_t> tok = {3, 0, 3, 1, 2, 0};
  std::vector<double> out(B * T * C);
  lpt::ops::embedding_forward(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C, V);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < C; ++c)
        EXPECT_DOUBLE_EQ(out[(b * T + t) * C + c], wte[tok[b * T + t] * C + c] + wpe[t * C + c]);
  lpt::ops::embedding_forward(out.data(), tok.data(), wte.data(), (const double*)nullptr, B, T, C, V);
  EXPECT_DOUBLE_EQ(out[C + 2], wte[0 * C + 2]);
}

TEST(OpsEmbedding, GradientsMatchFiniteDifferencesWithRepeatedTokens) {
  for (auto [B, T, C] : {std::tuple{1, 1, 7}, std::tuple{3, 4, 5}, std::tuple{2, 5, 40}}) {
    const int V = 6;
    auto wte = random_vector(V * C, 3), wpe = random_vector(T * C, 4);
    std::vector<std::int32_t> tok(B * T);
    for (int i = 0; i < B * T; ++i) tok[i] = (i * 5 + 1) % 4;  // repeats; ids 4,5 never used
    const auto r = random_vector(std::size_t(B) * T * C, 5);
    std::vector<double> out(r.size());
    auto loss = [&] {
      lpt::ops::embedding_forward(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C, V);
      return lpt::test::dot(out.data(), r.data(), r.size());
    };
    std::vector<double> dwte(wte.size(), 0), dwpe(wpe.size(), 0);
    lpt::ops::embedding_backward(dwte.data(), dwpe.data(), r.data(), tok.data(), B, T, C, V);
    EXPECT_LT(grad_check(wte.data(), wte.size(), dwte, loss).rel_error, 1e-8);
    EXPECT_LT(grad_check(wpe.data(), wpe.size(), dwpe, loss).rel_error, 1e-8);
  }
}

TEST(OpsEmbedding, OutOfRangeTokenNamesIdAndVocabulary) {
  const std::vector<std::int64_t> tok = {0, 256};
  std::vector<float> wte(256 * 4), out(2 * 4);
  try {
    lpt::ops::embedding_forward(out.data(), tok.data(), wte.data(), (const float*)nullptr, 1, 2, 4,
                                256);
    FAIL() << "no error";
  } catch (const lpt::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("256"), std::string::npos) << m;
    EXPECT_NE(m.find("[0, 256)"), std::string::npos) << m;
  }
  const std::vector<std::int32_t> neg = {-1};
  EXPECT_THROW(lpt::ops::embedding_backward(wte.data(), (float*)nullptr, out.data(), neg.data(), 1,
                                            1, 4, 256),
               lpt::Error);
}

TEST(OpsEmbedding, BackwardDoesNotDependOnThreadCount) {
  const int B = 8, T = 64, C = 128, V = 16;  // few ids: many repeats per row of dwte
  auto g = random_vector(std::size_t(B) * T * C, 6);
  std::vector<float> gf(g.begin(), g.end());
  std::vector<std::int32_t> tok(B * T);
  for (int i = 0; i < B * T; ++i) tok[i] = (i * 7) % V;
  std::vector<float> a(V * C, 0), pa(T * C, 0), b(V * C, 0), pb(T * C, 0);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  lpt::ops::embedding_backward(a.data(), pa.data(), gf.data(), tok.data(), B, T, C, V);
  omp_set_num_threads(2);
  lpt::ops::embedding_backward(b.data(), pb.data(), gf.data(), tok.data(), B, T, C, V);
  omp_set_num_threads(saved);
  EXPECT_EQ(a, b);
  EXPECT_EQ(pa, pb);
}

}  // namespace
