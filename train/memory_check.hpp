#pragma once
// The memory a training run will need, estimated before anything is allocated, so that a model too
// large for the machine is refused with numbers instead of failing with bad_alloc after seconds or
// being killed by the kernel after minutes. The estimate is the performance model's memory per
// rank of the performance model (perfmodel/layer_cost.hpp, step_model.cpp: parameters, gradients,
// AdamW moments, states, tapes, workspace).
#include <cstdint>
#include <string>

#include "train/config.hpp"

namespace lpt {

class ParamShards;

struct MemoryEstimate {
  double model_bytes = 0;  // the performance model's total on the rank that needs most
  double total_bytes = 0;  // model_bytes plus the process's fixed overhead and the data
};

// `ranks`: ranks the layers are split over (1 for serial); `shards`: which rank holds which
// layers (null or unsplit: every rank holds the whole model).
MemoryEstimate estimate_train_memory(const RunConfig& cfg, int ranks,
                                     const ParamShards* shards = nullptr);

// Bytes this process may still allocate: /proc/meminfo's MemAvailable, lowered to what a cgroup
// memory limit leaves; a negative value when neither can be read.
double available_memory_bytes();

// This process's peak resident memory so far, bytes (getrusage's ru_maxrss).
double peak_rss_bytes();

// Throws lpt::Error when the estimate exceeds `available` (bytes; negative = unknown, no check),
// naming both numbers and the override train.check_memory = false.
void check_train_memory(const MemoryEstimate& est, double available);

std::string format_bytes(double bytes);

}  // namespace lpt
