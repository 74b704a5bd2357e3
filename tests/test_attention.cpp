// Attention cores: forward against a naive loop reference, backward against central differences
// (float64), for every mask kind and odd shapes; float32 against float64; error on a row that
// sees no key; results independent of the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "model/ops/attention.hpp"
#include "tests/gradcheck.hpp"
#include "tests/test_block_util.hpp"
#include "util/error.hpp"

namespace {

using lpt::test::grad_check;
using lpt::test::random_vector;
using Mask = std::vector<std::uint8_t>;

// Direct definition: q rows of width q_ld, kv rows of width kv_ld, K at column k_off, V at v_off.
std::vector<double> naive_attention(const double* q, int q_ld, const double* kv, int kv_ld,
                                    int k_off, int v_off, const std::uint8_t* km, int B, int Tq,
                                    int Tk, int d, int H, bool causal) {
  const int hs = d / H;
  std::vector<double> out(static_cast<std::size_t>(B) * Tq * d, 0.0), s(Tk);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < Tq; ++i) {
        double mx = -1e300;
        for (int j = 0; j < Tk; ++j) {
          const bool vis = (!km || km[b * Tk + j]) && (!causal || j <= i);
          double acc = 0;
          for (int c = 0; c < hs; ++c)
            acc += q[(b * Tq + i) * q_ld + h * hs + c] * kv[(b * Tk + j) * kv_ld + k_off + h * hs + c];
          s[j] = vis ? acc / std::sqrt(double(hs)) : -std::numeric_limits<double>::infinity();
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int j = 0; j < Tk; ++j) z += (s[j] = std::exp(s[j] - mx));
        for (int c = 0; c < hs; ++c) {
          double acc = 0;
          for (int j = 0; j < Tk; ++j)
            acc += s[j] / z * kv[(b * Tk + j) * kv_ld + v_off + h * hs + c];
          out[(b * Tq + i) * d + h * hs + c] = acc;
        }
      }
  return out;
}

// Padding at the end of each row, a different amount per row, at least one real key.
Mask tail_padding(int B, int T) {
  Mask m(static_cast<std::size_t>(B) * T, 1);
  for (int b = 0; b < B; ++b)
    for (int j = T - (b % T); j < T; ++j) m[b * T + j] = 0;
  return m;
}

struct SelfCase {
  int B, T, d, H;
  bool causal, pad;
};

void check_self(const SelfCase& c) {
  SCOPED_TRACE(::testing::Message() << "B=" << c.B << " T=" << c.T << " d=" << c.d << " H=" << c.H
                                    << " causal=" << c.causal << " pad=" << c.pad);
  const std::size_t nqkv = static_cast<std::size_t>(c.B) * c.T * 3 * c.d;
  const std::size_t nout = static_cast<std::size_t>(c.B) * c.T * c.d;
  const std::size_t np = static_cast<std::size_t>(c.B) * c.H * c.T * c.T;
  auto qkv = random_vector(nqkv, 11, 1.5);
  const auto w = random_vector(nout, 12);
  Mask mask = tail_padding(c.B, c.T);
  const std::uint8_t* km = c.pad ? mask.data() : nullptr;
  std::vector<double> out(nout), probs(np);
  lpt::ops::attention_forward(out.data(), probs.data(), qkv.data(), km, c.B, c.T, c.d, c.H, c.causal);

  const auto ref = naive_attention(qkv.data(), 3 * c.d, qkv.data(), 3 * c.d, c.d, 2 * c.d, km, c.B,
                                   c.T, c.T, c.d, c.H, c.causal);
  for (std::size_t i = 0; i < nout; ++i) ASSERT_NEAR(out[i], ref[i], 1e-12) << i;
  for (int r = 0; r < c.B * c.H * c.T; ++r) {
    double sum = 0;
    for (int j = 0; j < c.T; ++j) {
      const double p = probs[static_cast<std::size_t>(r) * c.T + j];
      const int b = r / (c.H * c.T), i = r % c.T;
      if ((km && !km[b * c.T + j]) || (c.causal && j > i)) {
        EXPECT_EQ(p, 0.0);
      }
      sum += p;
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }

  std::vector<double> dqkv(nqkv, 0.0), scratch(lpt::ops::attention_scratch_size(c.T, c.T));
  lpt::ops::attention_backward(dqkv.data(), scratch.data(), w.data(), qkv.data(), probs.data(), c.B,
                               c.T, c.d, c.H, c.causal);
  auto loss = [&] {
    std::vector<double> o(nout), p(np);
    lpt::ops::attention_forward(o.data(), p.data(), qkv.data(), km, c.B, c.T, c.d, c.H, c.causal);
    return lpt::test::dot(o.data(), w.data(), nout);
  };
  const auto r = grad_check(qkv.data(), nqkv, dqkv, loss);
  EXPECT_LT(r.rel_error, 1e-6);
  EXPECT_GT(r.norm, 0.0);

  // Backward accumulates; without the causal hint it does the full products, same result.
  std::vector<double> twice = dqkv;
  lpt::ops::attention_backward(twice.data(), scratch.data(), w.data(), qkv.data(), probs.data(), c.B,
                               c.T, c.d, c.H, false);
  for (std::size_t i = 0; i < nqkv; ++i) ASSERT_NEAR(twice[i], 2 * dqkv[i], 1e-13 * r.norm);
}

TEST(Attention, SelfGradientsEveryMaskKind) {
  for (bool causal : {false, true})
    for (bool pad : {false, true}) {
      check_self({2, 5, 8, 2, causal, pad});
      check_self({3, 4, 6, 3, causal, pad});
    }
}

TEST(Attention, SelfOddShapes) {
  check_self({1, 1, 4, 1, false, false});  // T = 1
  check_self({1, 1, 4, 2, true, true});
  check_self({1, 3, 5, 1, true, false});  // d = 5, one head
  check_self({2, 7, 5, 1, false, true});
  check_self({1, 6, 6, 3, true, true});  // head size 2
  check_self({4, 2, 12, 4, false, true});
  check_self({1, 70, 4, 1, true, true});    // causal blocks of 64 rows: one full, one partial
  check_self({1, 127, 2, 2, true, false});  // two heads, just under the threading threshold
}

struct CrossCase {
  int B, Tq, Tk, d, H;
  bool pad;
};

void check_cross(const CrossCase& c) {
  SCOPED_TRACE(::testing::Message() << "B=" << c.B << " Tq=" << c.Tq << " Tk=" << c.Tk
                                    << " d=" << c.d << " H=" << c.H << " pad=" << c.pad);
  const std::size_t nq = static_cast<std::size_t>(c.B) * c.Tq * c.d;
  const std::size_t nkv = static_cast<std::size_t>(c.B) * c.Tk * 2 * c.d;
  const std::size_t np = static_cast<std::size_t>(c.B) * c.H * c.Tq * c.Tk;
  auto q = random_vector(nq, 21, 1.5);
  auto kv = random_vector(nkv, 22, 1.5);
  const auto w = random_vector(nq, 23);
  Mask mask = tail_padding(c.B, c.Tk);
  const std::uint8_t* km = c.pad ? mask.data() : nullptr;
  std::vector<double> out(nq), probs(np);
  lpt::ops::cross_attention_forward(out.data(), probs.data(), q.data(), kv.data(), km, c.B, c.Tq,
                                    c.Tk, c.d, c.H);
  const auto ref =
      naive_attention(q.data(), c.d, kv.data(), 2 * c.d, 0, c.d, km, c.B, c.Tq, c.Tk, c.d, c.H, false);
  for (std::size_t i = 0; i < nq; ++i) ASSERT_NEAR(out[i], ref[i], 1e-12) << i;

  std::vector<double> dq(nq, 0.0), dkv(nkv, 0.0);
  std::vector<double> scratch(lpt::ops::attention_scratch_size(c.Tq, c.Tk));
  lpt::ops::cross_attention_backward(dq.data(), dkv.data(), scratch.data(), w.data(), q.data(),
                                     kv.data(), probs.data(), c.B, c.Tq, c.Tk, c.d, c.H);
  auto loss = [&] {
    std::vector<double> o(nq), p(np);
    lpt::ops::cross_attention_forward(o.data(), p.data(), q.data(), kv.data(), km, c.B, c.Tq, c.Tk,
                                      c.d, c.H);
    return lpt::test::dot(o.data(), w.data(), nq);
  };
  EXPECT_LT(grad_check(q.data(), nq, dq, loss).rel_error, 1e-6);
  EXPECT_LT(grad_check(kv.data(), nkv, dkv, loss).rel_error, 1e-6);

  // Null gradient outputs are skipped, the others unchanged (up to rounding: Eigen's small
  // products peel by buffer alignment, which differs between the two vectors).
  std::vector<double> dq_only(nq, 0.0);
  lpt::ops::cross_attention_backward(dq_only.data(), static_cast<double*>(nullptr), scratch.data(),
                                     w.data(), q.data(), kv.data(), probs.data(), c.B, c.Tq, c.Tk,
                                     c.d, c.H);
  for (std::size_t i = 0; i < nq; ++i) ASSERT_NEAR(dq_only[i], dq[i], 1e-14);
}

TEST(Attention, CrossGradients) {
  check_cross({2, 3, 5, 6, 3, true});
  check_cross({2, 5, 3, 8, 2, false});
  check_cross({1, 1, 4, 5, 1, true});
  check_cross({3, 4, 1, 4, 2, false});
  check_cross({2, 6, 6, 12, 4, true});
}

TEST(Attention, FullyMaskedRowThrows) {
  const int B = 2, T = 3, d = 4, H = 2;
  std::vector<double> qkv(B * T * 3 * d, 0.1), out(B * T * d), probs(B * H * T * T);
  Mask m(B * T, 1);
  for (int j = 0; j < T; ++j) m[T + j] = 0;  // row 1 all padding
  EXPECT_THROW(lpt::ops::attention_forward(out.data(), probs.data(), qkv.data(), m.data(), B, T, d,
                                           H, false),
               lpt::Error);
  Mask lead(B * T, 1);
  lead[0] = 0;  // leading pad: causal row 0 sees nothing, bidirectional rows are fine
  EXPECT_THROW(lpt::ops::attention_forward(out.data(), probs.data(), qkv.data(), lead.data(), B, T,
                                           d, H, true),
               lpt::Error);
  EXPECT_NO_THROW(lpt::ops::attention_forward(out.data(), probs.data(), qkv.data(), lead.data(), B,
                                              T, d, H, false));
  std::vector<double> q(B * T * d, 0.1), kv(B * T * 2 * d, 0.1);
  EXPECT_THROW(lpt::ops::cross_attention_forward(out.data(), probs.data(), q.data(), kv.data(),
                                                 m.data(), B, T, T, d, H),
               lpt::Error);
  EXPECT_THROW(lpt::ops::attention_forward(out.data(), probs.data(), qkv.data(), nullptr, B, T, 6,
                                           4, false),
               lpt::Error);  // d % H != 0
}

TEST(Attention, FloatMatchesDouble) {
  const int B = 2, T = 9, d = 16, H = 4;
  const auto qkv = random_vector(B * T * 3 * d, 31);
  const auto w = random_vector(B * T * d, 32);
  Mask m = tail_padding(B, T);
  std::vector<double> o64(B * T * d), p64(B * H * T * T), g64(qkv.size(), 0.0);
  std::vector<double> s64(lpt::ops::attention_scratch_size(T, T));
  lpt::ops::attention_forward(o64.data(), p64.data(), qkv.data(), m.data(), B, T, d, H, true);
  lpt::ops::attention_backward(g64.data(), s64.data(), w.data(), qkv.data(), p64.data(), B, T, d, H,
                               true);
  std::vector<float> qkv32(qkv.begin(), qkv.end()), w32(w.begin(), w.end());
  std::vector<float> o32(o64.size()), p32(p64.size()), g32(qkv.size(), 0.f), s32(s64.size());
  lpt::ops::attention_forward(o32.data(), p32.data(), qkv32.data(), m.data(), B, T, d, H, true);
  lpt::ops::attention_backward(g32.data(), s32.data(), w32.data(), qkv32.data(), p32.data(), B, T, d,
                               H, true);
  auto rel = [](const auto& a, const std::vector<double>& b) {
    double e = 0, n = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      e += (a[i] - b[i]) * (a[i] - b[i]);
      n += b[i] * b[i];
    }
    return std::sqrt(e / n);
  };
  EXPECT_LT(rel(o32, o64), 1e-5);
  EXPECT_LT(rel(g32, g64), 1e-5);
}

TEST(Attention, ThreadCountDoesNotChangeResults) {
  const int B = 3, T = 80, d = 24, H = 3;  // threaded path, two causal row blocks
  const auto qkv = random_vector(B * T * 3 * d, 41);
  const auto w = random_vector(B * T * d, 42);
  // 64-byte aligned buffers: Eigen peels its vector loops (softmax exp and sum) by address, so
  // bit equality is promised for equally aligned buffers, as the layer tapes and workspaces are.
  auto run = [&](int threads, std::vector<float>& out, std::vector<float>& g) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    lpt::test::Aligned<float> q(qkv.size()), ww(w.size()), p(B * H * T * T), o(B * T * d),
        dq(qkv.size()), s(lpt::ops::attention_scratch_size(T, T));
    std::copy(qkv.begin(), qkv.end(), q.data());
    std::copy(w.begin(), w.end(), ww.data());
    lpt::ops::attention_forward(o.data(), p.data(), q.data(), nullptr, B, T, d, H, true);
    lpt::ops::attention_backward(dq.data(), s.data(), ww.data(), q.data(), p.data(), B, T, d, H, true);
    out.assign(o.data(), o.data() + o.n);
    g.assign(dq.data(), dq.data() + dq.n);
    omp_set_num_threads(saved);
  };
  std::vector<float> o1, g1, o2, g2;
  run(1, o1, g1);
  run(4, o2, g2);
  EXPECT_EQ(o1, o2);
  EXPECT_EQ(g1, g2);
}

}  // namespace
