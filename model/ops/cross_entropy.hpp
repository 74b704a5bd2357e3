#pragma once
// Softmax cross-entropy over logits[N,V] with integer targets, torch.nn.CrossEntropyLoss semantics:
// mean over rows whose target != ignore_index, label smoothing ε as
// loss_n = (1 − ε)·(−log p[n, t_n]) + ε·mean_v(−log p[n, v]).
#include <cstdint>

namespace lpt::ops {

constexpr int kIgnoreIndex = -100;

// Returns Σ_n loss_n / count (count = rows with target != ignore_index; returns 0 when count = 0,
// where torch would give NaN, so that an all-padding batch does not poison a running average).
// losses[N]: written with loss_n (0 for ignored rows); lse[N]: written with log Σ_v exp(logits[n,v]),
// the only thing the backward needs besides the logits (N values instead of N·V probabilities).
// The total is summed in double in row order: independent of the thread count.
// Throws lpt::Error naming the row, the target and V for a target outside [0, V) that is not
// ignore_index, and for ε outside [0, 1].
template <class T, class Idx>
double cross_entropy_forward(T* losses, T* lse, const T* logits, const Idx* targets, int N, int V,
                             double label_smoothing = 0.0, int ignore_index = kIgnoreIndex);

// dlogits[N,V] += (dloss / count) · (softmax(logits)[n,v] − (1 − ε)·[v = t_n] − ε / V)
// for rows with t_n != ignore_index; ignored rows get nothing. lse is the forward's buffer;
// dloss is the upstream gradient of the returned mean (1 for a plain loss, or a loss scale).
// dlogits must not alias logits.
template <class T, class Idx>
void cross_entropy_backward(T* dlogits, const T* logits, const T* lse, const Idx* targets, int N,
                            int V, double dloss, double label_smoothing = 0.0,
                            int ignore_index = kIgnoreIndex);

// Rows with target != ignore_index.
template <class Idx>
int count_targets(const Idx* targets, int N, int ignore_index = kIgnoreIndex);

struct AccuracyCount {
  long long correct = 0;  // rows whose argmax (first maximum, as torch.argmax) equals the target
  long long counted = 0;  // rows with target != ignore_index
  double accuracy() const { return counted ? double(correct) / double(counted) : 0.0; }
};
template <class T, class Idx>
AccuracyCount accuracy_count(const T* logits, const Idx* targets, int N, int V,
                             int ignore_index = kIgnoreIndex);

}  // namespace lpt::ops
