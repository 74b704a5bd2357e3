#pragma once
// Token + learned position embedding (GPT/BERT/translation inputs): u0 = wte[tok] + wpe[pos].
#include <cstdint>

namespace lpt::ops {

// out[B,T,C] = wte[V,C][tok[b,t]] + wpe[T_max,C][t]     (wpe may be null: no positions)
// Throws lpt::Error naming the token id and V when some tok[b,t] is outside [0, V); the caller
// guarantees T <= T_max. Idx is int32_t or int64_t.
template <class T, class Idx>
void embedding_forward(T* out, const Idx* tok, const T* wte, const T* wpe, int B, int T_, int C,
                       int V);

// dwte[tok[b,t], :] += dout[b,t,:] ;  dwpe[t, :] += Σ_b dout[b,t,:]     (either may be null)
// Deterministic: threads own disjoint column blocks [c0,c1) of C and walk (b,t) in order, so a
// repeated token's rows are added in the same order whatever the thread count (no atomics).
template <class T, class Idx>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const Idx* tok, int B, int T_, int C,
                        int V);

}  // namespace lpt::ops
