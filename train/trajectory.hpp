#pragma once
// Serial training of a GPT run config with its whole trajectory written out for the PyTorch
// reference (tests/torch_ref/trajectory_ref.py): the initial parameters, every step's batch and
// learning rate, and lpt's loss and gradient norm at every step. Model, data, initialisation,
// AdamW, schedule and clipping are built as `lpt train` builds them in serial mode (the same
// float32 losses bit for bit); float64 trains the same config from the float32 initial weights
// (upcast), so that both precisions and PyTorch start from one point.
//
// File layout (HDF5), read by trajectory_ref.py:
//   attrs  family "gpt", config (torch_ref's config JSON, with dtype), optimizer (JSON: betas,
//          eps, weight_decay, clip), no_decay (names exempt from weight decay), lpt_config
//   /params/<name>     initial parameters in the run's dtype (docs/parameters.md names)
//   /adam_m/<name>, /adam_v/<name>, attr start_step   only when exporting from a later step
//   /batches/tokens, /batches/targets   int64 [S, B, T], the batch of step start_step + s in row s
//   /lr [S]            learning rate of step s
//   /lpt/loss [S], /lpt/grad_norm [S]   lpt's loss and gradient norm (before clipping)
#include <string>
#include <vector>

#include "train/config.hpp"

namespace lpt {

struct Trajectory {
  std::vector<double> loss, grad_norm, lr;
};

// Trains cfg (family gpt, optimizer adamw, dropout 0) in float64 or float32 for cfg.train.steps
// steps, or only the first `stop` of them when 0 < stop < train.steps (the schedule still spans
// train.steps, as in a run interrupted there), and writes the file above to `out`; returns the
// per-step series. from > 0 trains steps [0, from) unrecorded and exports from step `from` on,
// with the parameters and AdamW's moments at that step (/adam_m, /adam_v, attribute
// start_step): the reference then continues lpt's own state, e.g. just before a loss spike.
// Throws lpt::Error naming the key for a config the reference cannot follow.
Trajectory export_trajectory(const RunConfig& cfg, bool float64, const std::string& out,
                             long stop = 0, long from = 0);

}  // namespace lpt
