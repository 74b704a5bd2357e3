#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/ops/patch_embed.hpp"
#include "tests/gradcheck.hpp"
#include "util/error.hpp"

using lpt::test::grad_check;
using lpt::test::random_vector;

namespace {

struct Dims {
  int B, C, H, W, p, d;
};

TEST(OpsPatchEmbed, ForwardIsAStridedConvolutionWithClassToken) {
  const Dims s{2, 3, 4, 6, 2, 5};
  const int P = lpt::ops::patch_count(s.C, s.H, s.W, s.p), K = s.C * s.p * s.p;
  ASSERT_EQ(P, 6);
  auto img = random_vector(std::size_t(s.B) * s.C * s.H * s.W, 1);
  auto w = random_vector(s.d * K, 2), b = random_vector(s.d, 3), cls = random_vector(s.d, 4),
       pos = random_vector((1 + P) * s.d, 5);
  std::vector<double> out((1 + P) * s.d * s.B), patches(std::size_t(s.B) * P * K);
  lpt::ops::patch_embed_forward(out.data(), patches.data(), img.data(), w.data(), b.data(),
                                cls.data(), pos.data(), s.B, s.C, s.H, s.W, s.p, s.d);
  const int gw = s.W / s.p;
  for (int bb = 0; bb < s.B; ++bb) {
    for (int o = 0; o < s.d; ++o)
      EXPECT_NEAR(out[(bb * (1 + P)) * s.d + o], cls[o] + pos[o], 1e-14);
    for (int q = 0; q < P; ++q)
      for (int o = 0; o < s.d; ++o) {
        // Conv2d(kernel = stride = p), weight[o, c, i, j] = w[o, (c·p + i)·p + j]
        double acc = b[o] + pos[(1 + q) * s.d + o];
        for (int c = 0; c < s.C; ++c)
          for (int i = 0; i < s.p; ++i)
            for (int j = 0; j < s.p; ++j)
              acc += w[o * K + (c * s.p + i) * s.p + j] *
                     img[((bb * s.C + c) * s.H + (q / gw) * s.p + i) * s.W + (q % gw) * s.p + j];
        EXPECT_NEAR(out[(bb * (1 + P) + 1 + q) * s.d + o], acc, 1e-12);
      }
  }
}

TEST(OpsPatchEmbed, GradientsMatchFiniteDifferences) {
  for (Dims s : {Dims{1, 1, 3, 3, 3, 5}, Dims{2, 3, 4, 6, 2, 5}, Dims{3, 2, 2, 4, 1, 7}}) {
    const int P = lpt::ops::patch_count(s.C, s.H, s.W, s.p), K = s.C * s.p * s.p;
    auto img = random_vector(std::size_t(s.B) * s.C * s.H * s.W, 6);
    auto w = random_vector(s.d * K, 7), b = random_vector(s.d, 8), cls = random_vector(s.d, 9),
         pos = random_vector((1 + P) * s.d, 10);
    const auto r = random_vector(std::size_t(s.B) * (1 + P) * s.d, 11);
    std::vector<double> out(r.size()), patches(std::size_t(s.B) * P * K), scratch(P * K);
    auto loss = [&] {
      lpt::ops::patch_embed_forward(out.data(), patches.data(), img.data(), w.data(), b.data(),
                                    cls.data(), pos.data(), s.B, s.C, s.H, s.W, s.p, s.d);
      return lpt::test::dot(out.data(), r.data(), r.size());
    };
    loss();
    std::vector<double> dimg(img.size(), 0), dw(w.size(), 0), db(b.size(), 0), dcls(cls.size(), 0),
        dpos(pos.size(), 0);
    lpt::ops::patch_embed_backward(dimg.data(), dw.data(), db.data(), dcls.data(), dpos.data(),
                                   scratch.data(), r.data(), patches.data(), w.data(), s.B, s.C,
                                   s.H, s.W, s.p, s.d);
    EXPECT_LT(grad_check(img.data(), img.size(), dimg, loss).rel_error, 1e-8);
    EXPECT_LT(grad_check(w.data(), w.size(), dw, loss).rel_error, 1e-8);
    EXPECT_LT(grad_check(b.data(), b.size(), db, loss).rel_error, 1e-8);
    EXPECT_LT(grad_check(cls.data(), cls.size(), dcls, loss).rel_error, 1e-8);
    EXPECT_LT(grad_check(pos.data(), pos.size(), dpos, loss).rel_error, 1e-8);
  }
}

TEST(OpsPatchEmbed, IndivisibleImageNamesBothSizes) {
  try {
    lpt::ops::patch_count(3, 32, 30, 4);
    FAIL() << "no error";
  } catch (const lpt::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("32"), std::string::npos) << m;
    EXPECT_NE(m.find("30"), std::string::npos) << m;
    EXPECT_NE(m.find("patch size 4"), std::string::npos) << m;
  }
  std::vector<float> x(3 * 5 * 4), o(100), pt(100), w(100), b(4), cls(4), pos(100);
  EXPECT_THROW(lpt::ops::patch_embed_forward(o.data(), pt.data(), x.data(), w.data(), b.data(),
                                             cls.data(), pos.data(), 1, 3, 5, 4, 2, 4),
               lpt::Error);
}

}  // namespace
