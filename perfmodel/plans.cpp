#include "perfmodel/plans.hpp"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "util/error.hpp"

namespace lpt::perf {

const char* to_string(PlanFamily f) {
  switch (f) {
    case PlanFamily::serial: return "serial";
    case PlanFamily::data_parallel: return "data-parallel";
    case PlanFamily::pipeline: return "pipeline";
    case PlanFamily::layer_parallel: return "layer-parallel";
  }
  return "?";
}

const char* to_string(PipeSchedule s) { return s == PipeSchedule::gpipe ? "GPipe" : "1F1B"; }

int in_flight(PipeSchedule s, int k, int P, int stage) {
  // 1F1B: stage p runs P − 1 − p warm-up forwards, then one more before its first backward, and
  // from then on retires one micro-batch per new one (Narayanan et al. 2021, PipeDream-Flush).
  return s == PipeSchedule::gpipe ? k : std::min(k, P - stage);
}

double bubble_fraction(int k, int P) { return double(P - 1) / double(k + P - 1); }

double pipeline_compute(const std::vector<double>& unit, int k) {
  double sum = 0, most = 0;
  for (double u : unit) {
    sum += u;
    most = std::max(most, u);
  }
  return sum + (k - 1) * most;
}

std::string Plan::describe() const {
  std::ostringstream os;
  if (P > 1) os << "D" << D << " x P" << P << " ";
  else if (D > 1) os << "D" << D << " ";
  os << "k" << k;
  if (family == PlanFamily::pipeline) os << " " << to_string(schedule);
  if (family == PlanFamily::layer_parallel) os << " " << mgrit.settings.describe();
  else if (recompute) os << " recompute";
  return os.str();
}

namespace {

void finish(PlanTime& t) { t.total = t.compute + t.embed_sync + t.optimizer + t.data_parallel; }

// The batch one device processes at a time; an error naming the split when it is not whole.
int micro_batch(const ModelShape& shape, int D, int k) {
  require(D >= 1 && k >= 1, "data-parallel groups and micro-batches must be >= 1, got D=", D,
          " k=", k);
  require(shape.batch % (D * k) == 0, "a global batch of ", shape.batch,
          " sequences does not split into ", D, " data-parallel group(s) x ", k,
          " micro-batch(es); choose D·k dividing it or change the global batch");
  return shape.batch / (D * k);
}

const MeasuredLayerTimes* measured_at(const std::vector<MeasuredLayerTimes>* measured, int b) {
  if (!measured) return nullptr;
  for (const MeasuredLayerTimes& t : *measured)
    if (t.batch == b) return &t;
  return nullptr;
}

StepModel micro_batch_model(const ModelShape& shape, const HardwareProfile& hw, int D, int b,
                            const std::vector<MeasuredLayerTimes>* measured) {
  ModelShape s = shape;
  s.batch = b;
  StepModel m(s, hw);
  m.set_replicas(D);
  if (measured && !measured->empty()) {
    const MeasuredLayerTimes* t = measured_at(measured, b);
    require(t, "no measured layer times at a micro-batch of ", b, " sequences; calibrate that size "
            "too (lpt calibrate --set train.batch=", b, " --out FILE) and add FILE to --measured");
    m.set_measured(*t);
  }
  return m;
}

// What one stage of a pipeline (or the one device of a data-parallel plan) holds and does.
struct Stage {
  double unit = 0;    // s: one micro-batch's forward + backward with the messages it waits for
  double params = 0;  // parameters held
  int tensors = 0;    // fused optimizer launches
  MemoryUse memory;
};

// Stage st of P over layers [⌊st·N/P⌋, ⌊(st+1)·N/P⌋); the first also runs the opening layer,
// the last the closing layer and the loss (and both hold the tied embedding).
Stage price_stage(const StepModel& m, int st, int P, int k, PipeSchedule schedule, bool recompute) {
  const StepCosts& c = m.costs();
  const int N = m.shape().layers;
  const int first = int(1LL * st * N / P), last = int(1LL * (st + 1) * N / P);
  const Network net = m.network();
  Stage s;
  const StepBreakdown t = chain_time(c, first, last, recompute);
  s.unit = t.forward + t.adjoint + t.param_grad;
  s.params = std::accumulate(c.params.begin() + first, c.params.begin() + last, 0.0);
  s.tensors = last - first;
  if (st == 0) {
    s.unit += c.opening_fwd + c.opening_bwd;
    s.params += c.opening_params;
    s.tensors += 1;
  }
  if (st == P - 1) {
    s.unit += c.closing_fwd + c.closing_bwd;
    s.params += c.closing_params + (P > 1 ? c.tied_params : 0.0);
    s.tensors += 1;
    s.memory.workspace = c.closing_workspace;  // one micro-batch's logits at a time
  }
  // Not overlapped with compute (conservative): the state from the previous stage, the adjoint
  // from the next.
  if (st > 0) s.unit += net.message(st - 1, st);
  if (st < P - 1) s.unit += net.message(st, st + 1);
  add_parameter_state(s.memory, s.params, m.shape().act_bytes);
  add_chain_activations(s.memory, c, first, last, recompute, in_flight(schedule, k, P, st));
  return s;
}

}  // namespace

Plan price_exact(const ModelShape& shape, const HardwareProfile& hw, int D, int P, int k,
                 PipeSchedule schedule, bool recompute,
                 const std::vector<MeasuredLayerTimes>* measured) {
  const int b = micro_batch(shape, D, k);
  require(P >= 1 && P <= shape.layers, "a pipeline of ", P, " stages needs 1 to N = ",
          shape.layers, " stages (a stage holds at least one layer)");
  const StepModel m = micro_batch_model(shape, hw, D, b, measured);
  Plan pl;
  pl.family = P == 1 ? PlanFamily::data_parallel : PlanFamily::pipeline;
  pl.D = D;
  pl.P = P;
  pl.k = k;
  pl.schedule = P == 1 ? PipeSchedule::one_f_one_b : schedule;  // one stage: plain accumulation
  pl.recompute = recompute;
  pl.micro_batch = b;
  pl.bubble = bubble_fraction(k, P);
  std::vector<double> units;
  double max_params = 0;
  for (int st = 0; st < P; ++st) {
    Stage s = price_stage(m, st, P, k, pl.schedule, recompute);
    // lpt's accumulation (train.accumulate) keeps one more fp32 gradient copy; a pipeline sums
    // its micro-batches inside the backward GEMMs.
    if (P == 1 && k > 1) s.memory.grads *= 2;
    finish_memory(s.memory, hw.memory_capacity);
    if (st == 0 || s.memory.total > pl.memory.total) pl.memory = s.memory;
    pl.stages.push_back(s.memory);
    units.push_back(s.unit);
    max_params = std::max(max_params, s.params);
    pl.time.optimizer = std::max(pl.time.optimizer, m.optimizer_time(s.params, s.tensors));
  }
  pl.time.compute = pipeline_compute(units, k);
  const StepCosts& c = m.costs();
  if (P > 1 && c.tied_params > 0)  // after the flush, before the update: exposed
    pl.time.embed_sync = message_time(c.tied_params * 4, m.network().link(0, P - 1));
  pl.time.data_parallel = m.ring_allreduce(max_params * 4, P);
  finish(pl.time);
  return pl;
}

Plan price_layer_parallel(const ModelShape& shape, const HardwareProfile& hw, int D, int P, int k,
                          const SearchGrid& grid,
                          const std::vector<MeasuredLayerTimes>* measured) {
  const int b = micro_batch(shape, D, k);
  const StepModel m = micro_batch_model(shape, hw, D, b, measured);
  SearchGrid g = grid;
  g.require_fit = false;  // kept apart below: the fastest that fits, else the fastest
  const SearchResult r = search_best(m, P, g);
  const Prediction* best = nullptr;
  for (const Prediction& p : r.tried)
    if (p.memory.fits && (!best || p.time.total < best->time.total)) best = &p;
  Plan pl;
  pl.family = PlanFamily::layer_parallel;
  pl.D = D;
  pl.P = P;
  pl.k = k;
  pl.micro_batch = b;
  pl.mgrit = best ? *best : r.best;
  const StepBreakdown& t = pl.mgrit.time;
  // k solves of one micro-batch each (train.accumulate), then one exchange and one update.
  pl.time.compute = k * (t.total - t.embed_sync - t.optimizer - t.data_parallel);
  pl.time.embed_sync = t.embed_sync;
  pl.time.optimizer = t.optimizer;
  pl.time.data_parallel = t.data_parallel;
  finish(pl.time);
  pl.memory = pl.mgrit.memory;
  if (k > 1) pl.memory.grads *= 2;  // the accumulation's gradient copy
  finish_memory(pl.memory, hw.memory_capacity);
  return pl;
}

namespace {

std::vector<int> divisors(int n) {
  std::vector<int> d;
  for (int i = 1; i <= n; ++i)
    if (n % i == 0) d.push_back(i);
  return d;
}

// Candidate micro-batch counts for a group's batch, ascending.
std::vector<int> micro_batch_counts(int group_batch, const PlanSpace& space) {
  std::vector<int> ks;
  if (space.micro_batches.empty()) {
    ks = divisors(group_batch);
  } else {
    for (int k : space.micro_batches)
      if (k >= 1 && group_batch % k == 0) ks.push_back(k);
    std::sort(ks.begin(), ks.end());
  }
  if (space.measured.empty()) return ks;
  std::vector<int> calibrated;  // only sizes whose layer times were measured
  for (int k : ks)
    if (measured_at(&space.measured, group_batch / k)) calibrated.push_back(k);
  return calibrated;
}

// The better of two plans: one that fits over one that does not, then the faster.
bool better(const Plan& a, const Plan& b) {
  if (a.memory.fits != b.memory.fits) return a.memory.fits;
  return a.time.total < b.time.total;
}

struct Best {
  bool have = false;
  Plan plan;
  void offer(const Plan& p) {
    if (!have || better(p, plan)) plan = p;
    have = true;
  }
};

// Every exact plan with D groups of P stages: micro-batch counts, schedules, tapes or recompute.
void offer_exact(Best& best, const ModelShape& s, const HardwareProfile& hw, int D, int P,
                 const PlanSpace& space) {
  if (s.batch % D != 0 || P > s.layers) return;
  for (int k : micro_batch_counts(s.batch / D, space))
    for (PipeSchedule sc : space.schedules) {
      for (bool rc : {false, true})
        best.offer(price_exact(s, hw, D, P, k, sc, rc, &space.measured));
      if (P == 1) break;  // one stage has no schedule
    }
}

// Layer-parallel with D groups of P ranks. More micro-batches only repeat the solves on smaller
// batches (launches and latencies do not shrink with them), so the first k that fits is kept.
void offer_layer_parallel(Best& best, const ModelShape& s, const HardwareProfile& hw, int D, int P,
                          const PlanSpace& space) {
  if (s.batch % D != 0) return;
  for (int k : micro_batch_counts(s.batch / D, space)) {
    Plan p;
    try {
      p = price_layer_parallel(s, hw, D, P, k, space.grid, &space.measured);
    } catch (const Error&) {  // no usable MGRIT setting at this depth
      return;
    }
    best.offer(p);
    if (p.memory.fits) return;
  }
}

}  // namespace

PlanComparison compare_plans(const ModelShape& shape, const HardwareProfile& hw, int devices,
                             const PlanSpace& space) {
  require(devices >= 1, "plans need at least one device, got ", devices);
  require(space.global_batch >= 1, "the global batch must be >= 1 sequence, got ",
          space.global_batch);
  ModelShape s = shape;
  s.batch = space.global_batch;
  PlanComparison c;
  c.layers = s.layers;
  c.devices = devices;
  Best serial, dp, pipe, lp;
  offer_exact(serial, s, hw, 1, 1, space);
  require(serial.have, "no micro-batch count in the list divides the global batch of ", s.batch,
          "; give --micro-batches values that divide it");
  c.serial = serial.plan;
  c.serial.family = PlanFamily::serial;
  if (devices > 1) offer_exact(dp, s, hw, devices, 1, space);
  // One level is no MGRIT: an exact sweep through the ranks, which is the pipeline with k = 1.
  PlanSpace mgrit = space;
  std::vector<int>& levels = mgrit.grid.levels;
  levels.erase(std::remove_if(levels.begin(), levels.end(), [](int L) { return L < 2; }),
               levels.end());
  for (int P : divisors(devices)) {
    if (P < 2) continue;
    offer_exact(pipe, s, hw, devices / P, P, space);
    if (!levels.empty()) offer_layer_parallel(lp, s, hw, devices / P, P, mgrit);
  }
  for (Best* b : {&dp, &pipe, &lp})
    if (b->have) c.best.push_back(b->plan);
  c.serial.speedup = 1;
  for (int i = 0; i < int(c.best.size()); ++i) {
    Plan& p = c.best[i];
    p.speedup = c.serial.time.total / p.time.total;
    if (!p.memory.fits) continue;
    if (c.winner < 0 || p.time.total < c.best[c.winner].time.total) c.winner = i;
    if (p.family != PlanFamily::layer_parallel &&
        (c.best_exact < 0 || p.time.total < c.best[c.best_exact].time.total))
      c.best_exact = i;
  }
  return c;
}

bool layer_parallel_wins(const PlanComparison& c) {
  for (const Plan& p : c.best)
    if (p.family == PlanFamily::layer_parallel && p.memory.fits)
      return c.best_exact < 0 || p.time.total < c.best[c.best_exact].time.total;
  return false;
}

}  // namespace lpt::perf
