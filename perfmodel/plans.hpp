#pragma once
// Ways to train one model on G devices, priced from the same per-layer costs as the StepModel:
// data-parallel (D = G copies of the whole model), pipeline (1F1B or GPipe over k micro-batches
// on P stages), layer-parallel MGRIT on P ranks, and the products D × P of the last two with data
// parallelism; which fit in a device's memory, and the fastest that fits. The global batch is
// fixed (the optimizer sees the same gradient in every exact plan), so plans compare like with
// like. Formulas and sources: docs/perfmodel.md §7.
#include <string>
#include <vector>

#include "perfmodel/search.hpp"

namespace lpt::perf {

enum class PlanFamily { serial, data_parallel, pipeline, layer_parallel };
const char* to_string(PlanFamily f);

// Order of a pipeline stage's forwards and backwards. Both have the bubble (P−1)/(k+P−1);
// they differ in the micro-batches a stage holds (in_flight).
enum class PipeSchedule { one_f_one_b, gpipe };
const char* to_string(PipeSchedule s);

// Micro-batches whose activations stage `stage` (0 … P−1) holds at its peak: GPipe all k,
// 1F1B (PipeDream-Flush) min(k, P − stage).
int in_flight(PipeSchedule s, int k, int P, int stage);
// Idle fraction of a pipeline of P equal stages over k micro-batches: (P−1)/(k+P−1).
double bubble_fraction(int k, int P);
// Critical path of k micro-batches through stages whose forward + backward of one micro-batch
// take unit[s] seconds: every micro-batch passes each stage once and the slowest stage paces the
// other k − 1, Σ unit + (k − 1)·max unit; (k + P − 1)·u for P equal stages. GPipe and 1F1B alike.
double pipeline_compute(const std::vector<double>& unit, int k);

// Time of one plan's step, s.
struct PlanTime {
  double compute = 0;        // the layers' forwards and backwards, pipelined or solved, with
                             // the bubble and the point-to-point messages on the critical path
  double embed_sync = 0;     // tied-embedding gradient between the first and last stage
  double optimizer = 0;      // AdamW on the device with most parameters
  double data_parallel = 0;  // gradient allreduce across the D groups
  double total = 0;
};

struct Plan {
  PlanFamily family = PlanFamily::serial;
  int D = 1;  // data-parallel groups, each with global_batch / D sequences
  int P = 1;  // devices per group: pipeline stages or layer-parallel ranks
  int k = 1;  // micro-batches per group and step (pipeline) or accumulation steps (the others)
  PipeSchedule schedule = PipeSchedule::one_f_one_b;  // pipeline only
  bool recompute = false;  // exact plans: layer inputs kept, tapes rebuilt in the backward
  int micro_batch = 0;     // sequences a device processes at a time: global_batch / (D·k)
  Prediction mgrit;        // layer-parallel only: one micro-batch's step (settings, solves)
  PlanTime time;
  double bubble = 0;      // pipeline: (P−1)/(k+P−1)
  MemoryUse memory;       // the fullest device's, with fits against the profile
  std::vector<MemoryUse> stages;  // exact plans: each stage's device, first to last
  double speedup = 0;     // serial reference / this plan
  int devices() const { return D * P; }
  std::string describe() const;  // "D4 x P8 k16 1F1B", "D2 x P4 k1 L3 m4 it2/1", ...
};

// Prices one configuration. shape.batch is the global batch B; it must split into D·k equal
// micro-batches and the depth into P ≥ 1 non-empty stages (an lpt::Error says which and how to
// fix it). Exact: data-parallel (P = 1) or pipeline (P ≥ 2), tapes kept or recomputed.
// `measured` (optional): per-layer times calibrated at several batch sizes; the one measured at
// this plan's micro-batch replaces the FLOP-derived layer times (an lpt::Error when none was).
Plan price_exact(const ModelShape& shape, const HardwareProfile& hw, int D, int P, int k,
                 PipeSchedule schedule, bool recompute,
                 const std::vector<MeasuredLayerTimes>* measured = nullptr);
// Layer-parallel MGRIT on P ranks per group, D groups, k accumulated micro-batches per group:
// the grid's settings searched as `lpt predict` searches them, the fastest that fits kept (the
// fastest of all when none fits).
Plan price_layer_parallel(const ModelShape& shape, const HardwareProfile& hw, int D, int P, int k,
                          const SearchGrid& grid,
                          const std::vector<MeasuredLayerTimes>* measured = nullptr);

struct PlanSpace {
  int global_batch = 512;          // B: sequences per optimizer step
  std::vector<int> micro_batches;  // candidate k; empty: every divisor of the group's batch
  std::vector<PipeSchedule> schedules = {PipeSchedule::one_f_one_b, PipeSchedule::gpipe};
  SearchGrid grid;                 // the layer-parallel settings
  // Per-layer times calibrated at micro-batch sizes (lpt calibrate --set train.batch=b); when
  // given, only micro-batch counts whose size was calibrated are tried, priced from those times.
  std::vector<MeasuredLayerTimes> measured;
};

// Per (N, G): the serial reference and each family's best plan.
struct PlanComparison {
  int layers = 0, devices = 0;
  Plan serial;  // one device, the best k (gradient accumulation), tapes kept or recomputed
  // data_parallel, pipeline, layer_parallel: each the fastest plan that fits, or the fastest of
  // all (fits = false) when none does; a family with no valid plan at all is left out.
  std::vector<Plan> best;
  int winner = -1;        // index into best of the fastest that fits; -1: none fits
  int best_exact = -1;    // index into best of the fastest fitting exact plan; -1: none
};

// shape.layers is the depth; the batch is space.global_batch.
PlanComparison compare_plans(const ModelShape& shape, const HardwareProfile& hw, int devices,
                             const PlanSpace& space);

// Whether layer-parallel (alone or with data parallelism) fits and beats every exact plan that
// fits (true also when no exact plan fits).
bool layer_parallel_wins(const PlanComparison& c);

}  // namespace lpt::perf
