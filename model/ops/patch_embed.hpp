#pragma once
// ViT input: non-overlapping p×p patches → linear to d, class token prepended, learned positions.
// Equivalent to torch's Conv2d(C, d, kernel=p, stride=p) with weight.view(d, -1) = patch_w.
namespace lpt::ops {

// Number of patches P = (H/p)·(W/p); throws lpt::Error naming H, W and p when p does not divide
// both (or any size is < 1).
int patch_count(int C, int H, int W, int p);

// patches[B,P,K] (K = C·p·p; saved for the backward) = im2col(images[B,C,H,W]): patch q = gi·(W/p)+gj
// (row-major over the grid), feature k = (c·p + i)·p + j holds images[b, c, gi·p+i, gj·p+j].
// out[B,1+P,d]: out[b,0] = cls[d] + pos[0];  out[b,1+q] = patches[b,q] · patch_w[d,K]^T + patch_b + pos[1+q]
// with pos[1+P,d].
template <class T>
void patch_embed_forward(T* out, T* patches, const T* images, const T* patch_w, const T* patch_b,
                         const T* cls, const T* pos, int B, int C, int H, int W, int p, int d);

// dpatch_w[d,K] += Σ_b dout[b,1:]^T · patches[b] ; dpatch_b[d] += Σ_{b,q} dout[b,1+q] ;
// dcls[d] += Σ_b dout[b,0] ; dpos[1+P,d] += Σ_b dout[b] ;
// dimages[B,C,H,W] += col2im(dout[b,1:] · patch_w)  using scratch[P·K] (only when dimages != null).
// Any gradient output may be null. Batch sums run in batch order (deterministic).
template <class T>
void patch_embed_backward(T* dimages, T* dpatch_w, T* dpatch_b, T* dcls, T* dpos, T* scratch,
                          const T* dout, const T* patches, const T* patch_w, int B, int C, int H,
                          int W, int p, int d);

}  // namespace lpt::ops
