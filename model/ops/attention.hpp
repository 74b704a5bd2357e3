#pragma once
// Multi-head scaled dot-product attention on packed projections (docs/parameters.md): the cores
// between the input projection (qkv or q / kv linear) and the output projection.
//
// Heads: H heads of size hs = d/H; head j owns columns [j·hs, (j+1)·hs) of each of the Q, K, V
// blocks. Scores are scaled by 1/sqrt(hs). Masked entries get probability exactly 0; a query row
// with no visible key is an error of the batch (lpt::Error, thrown before any work starts).
//
// Memory: forward saves the softmax probabilities, B·H·Tq·Tk elements, for backward (this is the
// dominant part of a layer's tape at long sequences; see docs/blocks.md). Backward needs
// attention_scratch_size(Tq, Tk) elements of scratch (one Tq×Tk block per thread).
//
// Threading: OpenMP over the B·H (batch, head) pairs when called outside a parallel region;
// inside one (the MGRIT solver's threads) everything runs on the calling thread. Every (b, h) is
// computed independently in a fixed order, so results do not depend on the thread count. They
// can differ in the last bit between buffers of different alignment modulo 64 bytes (Eigen peels
// its vectorized exp/sum loops by address): use 64-byte aligned buffers (lpt::Arena) where bit
// equality matters, as the ODE-step tapes and workspaces do.
#include <cstddef>
#include <cstdint>

namespace lpt::ops {

// Threads the attention ops use when called here: 1 inside a parallel region, else
// omp_get_max_threads().
int attention_threads();

// Scratch elements attention_backward / cross_attention_backward need when called here:
// attention_threads()·Tq·Tk. A caller that sizes its workspace once should use
// attention_scratch_size(Tq, Tk, omp_get_max_threads()) for calls from outside a parallel
// region and attention_scratch_size(Tq, Tk, 1) for calls from inside one.
std::size_t attention_scratch_size(int Tq, int Tk);
std::size_t attention_scratch_size(int Tq, int Tk, int threads);

// Self-attention.
// qkv[B,T,3d] = packed Q|K|V (output of the qkv linear)
// out[B,T,d]  = per head softmax(mask(Q_h K_h^T / sqrt(hs))) V_h, heads concatenated
// probs[B,H,T,T] = the softmax probabilities (saved for backward)
// key_mask[B,T] (may be null = no padding): nonzero = real key, 0 = padding (masked).
// causal: query i sees keys j <= i. Both masks may be combined.
// Throws lpt::Error if d % H != 0 or some query row sees no real key.
template <class T>
void attention_forward(T* out, T* probs, const T* qkv, const std::uint8_t* key_mask, int B, int Tn,
                       int d, int H, bool causal);

// dqkv[B,T,3d] += d out / d qkv applied to dout[B,T,d]; uses probs from attention_forward (the
// masks live in the zeros of probs, so they are not passed again).
// scratch: attention_scratch_size(T, T) elements, overwritten.
// causal: the forward's flag; it only lets backward skip the zero triangle (false is always
// correct, just slower).
template <class T>
void attention_backward(T* dqkv, T* scratch, const T* dout, const T* qkv, const T* probs, int B,
                        int Tn, int d, int H, bool causal = false);

// Cross-attention: queries from one sequence, keys/values from another (the memory).
// q[B,Tq,d], kv[B,Tk,2d] = packed K|V; out[B,Tq,d]; probs[B,H,Tq,Tk];
// key_mask[B,Tk] (may be null): nonzero = real memory position.
template <class T>
void cross_attention_forward(T* out, T* probs, const T* q, const T* kv, const std::uint8_t* key_mask,
                             int B, int Tq, int Tk, int d, int H);

// dq[B,Tq,d] += ..., dkv[B,Tk,2d] += ... (either may be null); scratch:
// attention_scratch_size(Tq, Tk) elements.
template <class T>
void cross_attention_backward(T* dq, T* dkv, T* scratch, const T* dout, const T* q, const T* kv,
                              const T* probs, int B, int Tq, int Tk, int d, int H);

}  // namespace lpt::ops
