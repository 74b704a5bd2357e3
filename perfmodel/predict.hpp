#pragma once
// The predictions behind `lpt predict`: the table of predicted step times, speedups and best MGRIT
// settings over depths and rank counts, and the depth at which layer-parallel starts to beat
// serial; with `plans`, the comparison of data-parallel, pipeline and layer-parallel plans per
// depth and device count instead (perfmodel/plans.hpp), printed by plan_report.cpp. The command
// line that fills PredictOptions is experiments/cmd_predict.cpp's.
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "perfmodel/plans.hpp"
#include "perfmodel/schedule_sim.hpp"
#include "perfmodel/search.hpp"

namespace lpt::perf {

struct PredictOptions {
  ModelShape shape;
  std::string profile = "h100_sxm";
  std::vector<int> layers = {128, 1024};
  std::vector<int> ranks = {8, 16, 32, 64, 128, 256, 512};
  SearchGrid grid;
  bool search = true;  // false: the first grid.levels and grid.cfactors values only
  int replicas = 1;
  SerialMode serial_mode = SerialMode::store_tapes;
  std::string measured;     // MeasuredLayerTimes JSON
  std::string convergence;  // ConvergenceTable JSON
  bool crossover = true;
  int crossover_max_depth = 1 << 16;
  std::string json_out;
  bool simulate = false;  // also replay the best setting with the schedule simulator
  // Plans (data-parallel, pipeline, layer-parallel, products) on `ranks` devices each, for a
  // global batch split over groups and micro-batches; shape.batch is then not used.
  bool plans = false;
  int global_batch = 512;
  std::vector<int> micro_batches;  // candidate k; empty: every divisor
  int plans_max_depth = 8192;      // the plans' crossover search stops here
};

struct PredictRow {
  int layers = 0;
  int ranks = 0;
  Prediction best;
  int tried = 0;
  bool simulated = false;  // the simulator ran (P <= the coarsest level's steps)
  SimulatedStep sim;
};

struct Crossover {
  int ranks = 0;
  int depth = -1;  // smallest N with speedup > 1; -1: none up to crossover_max_depth
  Prediction at;   // the best prediction at that depth
};

// The smallest depth from which layer-parallel (alone or with data parallelism) fits and beats
// every exact plan that fits, on `devices` devices.
struct PlanCrossover {
  int devices = 0;
  int depth = -1;  // -1: none up to PredictOptions::plans_max_depth
  PlanComparison at;
};

struct PredictReport {
  HardwareProfile hw;
  ModelShape shape;
  std::vector<PredictRow> rows;
  std::vector<Crossover> crossovers;
  bool simulate = false;  // rows carry simulator results where the solver can split the chain
  int global_batch = 0;   // plans only
  std::vector<PlanComparison> plans;  // per (N, G), in the order of layers then ranks
  std::vector<PlanCrossover> plan_crossovers;
};

// Best settings for depth N on P ranks under the options (search grid or the fixed setting).
Prediction best_prediction(const PredictOptions& o, const HardwareProfile& hw, int N, int P,
                           int* tried = nullptr);
PredictReport run_prediction(const PredictOptions& o);
void print_report(const PredictReport& r, std::FILE* out);
nlohmann::json report_to_json(const PredictReport& r);
nlohmann::json prediction_to_json(const Prediction& p);
nlohmann::json memory_to_json(const MemoryUse& m);  // bytes per part, total, fits
// The plans' tables and JSON (plan_report.cpp); print_report and report_to_json call them.
void print_plans(const PredictReport& r, std::FILE* out);
nlohmann::json plans_to_json(const PredictReport& r);
// Smallest N in [2, max_depth] with wins(N), doubling to bracket it and then bisecting; -1 when
// none. Assumes that once wins(N) holds it holds for deeper chains too.
int smallest_winning_depth(const std::function<bool(int)>& wins, int max_depth);

}  // namespace lpt::perf
