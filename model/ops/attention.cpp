// Attention cores: one generic (batch, head) loop serves self- and cross-attention; only where the
// Q, K, V heads live in memory differs (packed qkv rows of 3d vs separate q rows of d and kv rows
// of 2d). Heads are read in place through strided Eigen maps: Eigen's GEMM packs its operands
// anyway, so copying heads into contiguous buffers would only add a pass over memory.
#include <omp.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>

#include "model/ops/attention.hpp"
#include "util/error.hpp"

namespace lpt::ops {

namespace {

template <class T>
using RMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using CView = Eigen::Map<const RMat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using View = Eigen::Map<RMat<T>, 0, Eigen::OuterStride<>>;
using Idx = std::ptrdiff_t;

// Where head 0 of batch 0 of each operand starts and the row stride (leading dimension) of each.
template <class P>
struct Operands {
  P q, k, v;
  Idx q_ld, kv_ld;
};

struct Dims {
  int B, Tq, Tk, d, H;
  int hs() const { return d / H; }
};

void check_dims(const char* op, const Dims& s) {
  require(s.B >= 1 && s.Tq >= 1 && s.Tk >= 1, op, ": batch and sequence sizes must be >= 1, got B=",
          s.B, " Tq=", s.Tq, " Tk=", s.Tk);
  require(s.H >= 1 && s.d >= 1 && s.d % s.H == 0, op, ": model width d=", s.d,
          " must be a positive multiple of the head count H=", s.H, "; change model.d or model.heads");
}

// A query row with no visible key would give 0/0: the batch is wrong, so say which row. With a
// causal mask, row 0 sees only key 0, so key 0 must be real.
void check_rows(const char* op, const std::uint8_t* key_mask, const Dims& s, bool causal) {
  if (!key_mask) return;
  for (int b = 0; b < s.B; ++b) {
    const std::uint8_t* km = key_mask + static_cast<Idx>(b) * s.Tk;
    int first = 0;
    while (first < s.Tk && !km[first]) ++first;
    require(first < s.Tk, op, ": batch row ", b,
            " has no real key (key_mask all 0); every sequence needs at least one real token");
    require(!causal || first == 0, op, ": batch row ", b, " starts with padding (first real key ",
            first, "), so causal query rows 0..", first - 1,
            " see no key; pad at the end of the sequence, not the start");
  }
}

// In place on one score row s[Tk]: softmax over the visible keys j < visible with km[j] != 0
// (km may be null); every other entry becomes exactly 0. At least one key is visible (checked).
template <class T>
void masked_softmax_row(T* s, int Tk, int visible, const std::uint8_t* km) {
  T mx = -std::numeric_limits<T>::infinity();
  if (km) {
    for (int j = 0; j < visible; ++j)
      if (km[j] && s[j] > mx) mx = s[j];
  } else {
    for (int j = 0; j < visible; ++j) mx = s[j] > mx ? s[j] : mx;
  }
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> a(s, visible);
  a = (a - mx).exp();
  if (km)
    for (int j = 0; j < visible; ++j)
      if (!km[j]) s[j] = T(0);
  a *= T(1) / a.sum();
  for (int j = visible; j < Tk; ++j) s[j] = T(0);
}

// Threads only pay off beyond ~32k multiply-adds (fork/join costs microseconds, far more on a
// loaded machine) and never inside the caller's parallel region.
bool use_threads(const Dims& s) {
  const double work = double(s.B) * s.d * s.Tq * s.Tk;
  return s.B * s.H > 1 && work >= 32768.0 && !omp_in_parallel() && omp_get_max_threads() > 1;
}

// Query rows per block under a causal mask: small enough to skip most of the masked triangle,
// large enough to keep the per-block GEMMs efficient.
constexpr int kCausalBlock = 64;

template <class T>
void core_forward(T* out, T* probs, const Operands<const T*>& in, const std::uint8_t* key_mask,
                  const Dims& s, bool causal) {
  const int hs = s.hs();
  const T scale = T(1) / std::sqrt(T(hs));
  const int BH = s.B * s.H;
  const bool par = use_threads(s);
#pragma omp parallel for schedule(static) if (par)
  for (int bh = 0; bh < BH; ++bh) {
    const int b = bh / s.H, h = bh % s.H;
    const Idx qrow = static_cast<Idx>(b) * s.Tq, krow = static_cast<Idx>(b) * s.Tk;
    CView<T> Q(in.q + qrow * in.q_ld + h * hs, s.Tq, hs, Eigen::OuterStride<>(in.q_ld));
    CView<T> K(in.k + krow * in.kv_ld + h * hs, s.Tk, hs, Eigen::OuterStride<>(in.kv_ld));
    CView<T> V(in.v + krow * in.kv_ld + h * hs, s.Tk, hs, Eigen::OuterStride<>(in.kv_ld));
    T* P = probs + static_cast<Idx>(bh) * s.Tq * s.Tk;
    const std::uint8_t* km = key_mask ? key_mask + krow : nullptr;
    View<T> O(out + qrow * s.d + h * hs, s.Tq, hs, Eigen::OuterStride<>(s.d));
    // Causal: query rows [i0, i1) see keys [0, i1) only, so the products skip the masked corner.
    const int blk = causal ? kCausalBlock : s.Tq;
    for (int i0 = 0; i0 < s.Tq; i0 += blk) {
      const int r = std::min(blk, s.Tq - i0), kend = causal ? std::min(i0 + r, s.Tk) : s.Tk;
      View<T> S(P + static_cast<Idx>(i0) * s.Tk, r, kend, Eigen::OuterStride<>(s.Tk));
      S.noalias() = (scale * Q.middleRows(i0, r)) * K.topRows(kend).transpose();
      for (int i = i0; i < i0 + r; ++i)
        masked_softmax_row(P + static_cast<Idx>(i) * s.Tk, s.Tk,
                           causal ? std::min(i + 1, s.Tk) : s.Tk, km);
      O.middleRows(i0, r).noalias() = S * V.topRows(kend);
    }
  }
}

// dP = dO V^T ; dV += P^T dO ; dS = P ∘ (dP − rowsum(P ∘ dP)) / sqrt(hs) ; dQ += dS K ; dK += dS^T Q.
// Masked entries have P = 0 and so dS = 0: the mask needs no second look.
template <class T>
void core_backward(const Operands<T*>& grad, T* scratch, const T* dout,
                   const Operands<const T*>& in, const T* probs, const Dims& s, bool causal) {
  const int hs = s.hs();
  const T scale = T(1) / std::sqrt(T(hs));
  const int BH = s.B * s.H;
  const bool par = use_threads(s);
#pragma omp parallel for schedule(static) if (par)
  for (int bh = 0; bh < BH; ++bh) {
    const int b = bh / s.H, h = bh % s.H;
    const Idx qrow = static_cast<Idx>(b) * s.Tq, krow = static_cast<Idx>(b) * s.Tk;
    const int slot = par ? omp_get_thread_num() : 0;
    CView<T> Q(in.q + qrow * in.q_ld + h * hs, s.Tq, hs, Eigen::OuterStride<>(in.q_ld));
    CView<T> K(in.k + krow * in.kv_ld + h * hs, s.Tk, hs, Eigen::OuterStride<>(in.kv_ld));
    CView<T> V(in.v + krow * in.kv_ld + h * hs, s.Tk, hs, Eigen::OuterStride<>(in.kv_ld));
    CView<T> dO(dout + qrow * s.d + h * hs, s.Tq, hs, Eigen::OuterStride<>(s.d));
    const T* Pp = probs + static_cast<Idx>(bh) * s.Tq * s.Tk;
    T* dSp = scratch + static_cast<Idx>(slot) * s.Tq * s.Tk;
    // Rows past the causal diagonal have P = 0 beyond kend: blocks skip that corner, as forward.
    const int blk = causal ? kCausalBlock : s.Tq;
    for (int i0 = 0; i0 < s.Tq; i0 += blk) {
      const int r = std::min(blk, s.Tq - i0), kend = causal ? std::min(i0 + r, s.Tk) : s.Tk;
      CView<T> P(Pp + static_cast<Idx>(i0) * s.Tk, r, kend, Eigen::OuterStride<>(s.Tk));
      const auto dOb = dO.middleRows(i0, r);
      if (grad.v) {
        View<T> dV(grad.v + krow * grad.kv_ld + h * hs, kend, hs, Eigen::OuterStride<>(grad.kv_ld));
        dV.noalias() += P.transpose() * dOb;
      }
      if (!grad.q && !grad.k) continue;
      View<T> dS(dSp + static_cast<Idx>(i0) * s.Tk, r, kend, Eigen::OuterStride<>(s.Tk));
      dS.noalias() = dOb * V.topRows(kend).transpose();
      for (int i = 0; i < r; ++i) {
        const T* p = Pp + static_cast<Idx>(i0 + i) * s.Tk;
        T* g = dSp + static_cast<Idx>(i0 + i) * s.Tk;
        T dot = 0;
        for (int j = 0; j < kend; ++j) dot += p[j] * g[j];
        for (int j = 0; j < kend; ++j) g[j] = scale * p[j] * (g[j] - dot);
      }
      if (grad.q) {
        View<T> dQ(grad.q + (qrow + i0) * grad.q_ld + h * hs, r, hs, Eigen::OuterStride<>(grad.q_ld));
        dQ.noalias() += dS * K.topRows(kend);
      }
      if (grad.k) {
        View<T> dK(grad.k + krow * grad.kv_ld + h * hs, kend, hs, Eigen::OuterStride<>(grad.kv_ld));
        dK.noalias() += dS.transpose() * Q.middleRows(i0, r);
      }
    }
  }
}

}  // namespace

int attention_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

std::size_t attention_scratch_size(int Tq, int Tk, int threads) {
  return static_cast<std::size_t>(threads) * static_cast<std::size_t>(Tq) *
         static_cast<std::size_t>(Tk);
}

std::size_t attention_scratch_size(int Tq, int Tk) {
  return attention_scratch_size(Tq, Tk, attention_threads());
}

template <class T>
void attention_forward(T* out, T* probs, const T* qkv, const std::uint8_t* key_mask, int B, int Tn,
                       int d, int H, bool causal) {
  const Dims s{B, Tn, Tn, d, H};
  check_dims("attention_forward", s);
  check_rows("attention_forward", key_mask, s, causal);
  const Operands<const T*> in{qkv, qkv + d, qkv + 2 * d, 3 * static_cast<Idx>(d),
                              3 * static_cast<Idx>(d)};
  core_forward(out, probs, in, key_mask, s, causal);
}

template <class T>
void attention_backward(T* dqkv, T* scratch, const T* dout, const T* qkv, const T* probs, int B,
                        int Tn, int d, int H, bool causal) {
  const Dims s{B, Tn, Tn, d, H};
  check_dims("attention_backward", s);
  const Idx ld = 3 * static_cast<Idx>(d);
  const Operands<const T*> in{qkv, qkv + d, qkv + 2 * d, ld, ld};
  const Operands<T*> grad{dqkv, dqkv + d, dqkv + 2 * d, ld, ld};
  core_backward(grad, scratch, dout, in, probs, s, causal);
}

template <class T>
void cross_attention_forward(T* out, T* probs, const T* q, const T* kv, const std::uint8_t* key_mask,
                             int B, int Tq, int Tk, int d, int H) {
  const Dims s{B, Tq, Tk, d, H};
  check_dims("cross_attention_forward", s);
  check_rows("cross_attention_forward", key_mask, s, false);
  const Operands<const T*> in{q, kv, kv + d, static_cast<Idx>(d), 2 * static_cast<Idx>(d)};
  core_forward(out, probs, in, key_mask, s, false);
}

template <class T>
void cross_attention_backward(T* dq, T* dkv, T* scratch, const T* dout, const T* q, const T* kv,
                              const T* probs, int B, int Tq, int Tk, int d, int H) {
  const Dims s{B, Tq, Tk, d, H};
  check_dims("cross_attention_backward", s);
  const Operands<const T*> in{q, kv, kv + d, static_cast<Idx>(d), 2 * static_cast<Idx>(d)};
  const Operands<T*> grad{dq, dkv, dkv ? dkv + d : nullptr, static_cast<Idx>(d),
                          2 * static_cast<Idx>(d)};
  core_backward(grad, scratch, dout, in, probs, s, false);
}

#define LPT_INSTANTIATE(T)                                                                     \
  template void attention_forward<T>(T*, T*, const T*, const std::uint8_t*, int, int, int, int, \
                                     bool);                                                    \
  template void attention_backward<T>(T*, T*, const T*, const T*, const T*, int, int, int, int,  \
                                      bool);                                                   \
  template void cross_attention_forward<T>(T*, T*, const T*, const T*, const std::uint8_t*, int, \
                                           int, int, int, int);                                \
  template void cross_attention_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, \
                                            int, int, int, int, int);
LPT_INSTANTIATE(float)
LPT_INSTANTIATE(double)
#undef LPT_INSTANTIATE

}  // namespace lpt::ops
