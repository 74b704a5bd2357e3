#include <omp.h>

#include <cstddef>
#include <cstring>

#include "model/ops/gemm.hpp"
#include "model/ops/patch_embed.hpp"
#include "model/arena.hpp"
#include "util/error.hpp"

namespace lpt::ops {

int patch_count(int C, int H, int W, int p) {
  require(C >= 1 && H >= 1 && W >= 1 && p >= 1, "patch_embed: sizes must be >= 1, got C=", C,
          " H=", H, " W=", W, " patch=", p);
  require(H % p == 0 && W % p == 0, "patch_embed: image height ", H, " and width ", W,
          " must both be multiples of the patch size ", p, "; resize the images or change model.patch");
  return (H / p) * (W / p);
}

namespace {

// Calls f(offset in patches[P,K], offset in image[C,H,W]) for every run of p pixels that is one
// row of one channel of one patch: such a run is contiguous in both layouts.
template <class F>
void for_patch_rows(int C, int H, int W, int p, F&& f) {
  const int gw = W / p, P = (H / p) * gw, K = C * p * p;
  for (int q = 0; q < P; ++q) {
    const int gi = q / gw, gj = q % gw;
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < p; ++i)
        f(std::size_t(q) * K + std::size_t(c * p + i) * p,
          (std::size_t(c) * H + std::size_t(gi * p + i)) * W + std::size_t(gj) * p);
  }
}

}  // namespace

template <class T>
void patch_embed_forward(T* out, T* patches, const T* images, const T* patch_w, const T* patch_b,
                         const T* cls, const T* pos, int B, int C, int H, int W, int p, int d) {
  const int P = patch_count(C, H, W, p), K = C * p * p;
  require(B >= 0 && d >= 1, "patch_embed_forward: bad sizes B=", B, " d=", d);
  const std::size_t img = std::size_t(C) * H * W, pk = std::size_t(P) * K, od = std::size_t(1 + P) * d;
#pragma omp parallel for schedule(static) if (parallel_worth(std::size_t(B) * od))
  for (int b = 0; b < B; ++b) {
    const T* im = images + b * img;
    T* pt = patches + b * pk;
    for_patch_rows(C, H, W, p, [&](std::size_t po, std::size_t io) {
      std::memcpy(pt + po, im + io, sizeof(T) * p);
    });
    T* o = out + b * od;
    for (int c = 0; c < d; ++c) o[c] = cls[c] + pos[c];
    for (int q = 1; q <= P; ++q)
      for (int c = 0; c < d; ++c) o[std::size_t(q) * d + c] = patch_b[c] + pos[std::size_t(q) * d + c];
  }
  gemm_strided_batched(false, true, P, d, K, T(1), patches, K, std::int64_t(pk), patch_w, K, 0,
                       T(1), out + d, d, std::int64_t(od), B);
}

template <class T>
void patch_embed_backward(T* dimages, T* dpatch_w, T* dpatch_b, T* dcls, T* dpos, T* scratch,
                          const T* dout, const T* patches, const T* patch_w, int B, int C, int H,
                          int W, int p, int d) {
  const int P = patch_count(C, H, W, p), K = C * p * p;
  require(B >= 0 && d >= 1, "patch_embed_backward: bad sizes B=", B, " d=", d);
  require(dimages == nullptr || scratch != nullptr,
          "patch_embed_backward: the image gradient needs scratch of P·C·p·p = ", std::size_t(P) * K,
          " elements");
  const std::size_t img = std::size_t(C) * H * W, pk = std::size_t(P) * K, od = std::size_t(1 + P) * d;
  for (int b = 0; b < B; ++b) {
    const T* g = dout + b * od;
    if (dpatch_w) gemm(true, false, d, K, P, T(1), g + d, d, patches + b * pk, K, T(1), dpatch_w, K);
    if (dcls)
      for (int c = 0; c < d; ++c) dcls[c] += g[c];
    if (dpatch_b)
      for (int q = 1; q <= P; ++q)
        for (int c = 0; c < d; ++c) dpatch_b[c] += g[std::size_t(q) * d + c];
    if (dpos)
      for (std::size_t i = 0; i < od; ++i) dpos[i] += g[i];
    if (dimages) {
      gemm(false, false, P, K, d, T(1), g + d, d, patch_w, K, T(0), scratch, K);
      T* dim = dimages + b * img;
      for_patch_rows(C, H, W, p, [&](std::size_t po, std::size_t io) {
        for (int j = 0; j < p; ++j) dim[io + j] += scratch[po + j];
      });
    }
  }
}

template void patch_embed_forward<float>(float*, float*, const float*, const float*, const float*,
                                         const float*, const float*, int, int, int, int, int, int);
template void patch_embed_forward<double>(double*, double*, const double*, const double*,
                                          const double*, const double*, const double*, int, int,
                                          int, int, int, int);
template void patch_embed_backward<float>(float*, float*, float*, float*, float*, float*,
                                          const float*, const float*, const float*, int, int, int,
                                          int, int, int);
template void patch_embed_backward<double>(double*, double*, double*, double*, double*, double*,
                                           const double*, const double*, const double*, int, int,
                                           int, int, int, int);

}  // namespace lpt::ops
