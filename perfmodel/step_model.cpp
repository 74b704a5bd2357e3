#include "perfmodel/step_model.hpp"

#include <algorithm>
#include <numeric>

#include "util/error.hpp"

namespace lpt::perf {

StepModel::StepModel(const ModelShape& shape, const HardwareProfile& hw)
    : shape_(shape), hw_(hw), costs_(step_costs(shape, hw)) {}

void StepModel::set_measured(const MeasuredLayerTimes& m) { costs_ = step_costs(shape_, hw_, &m); }

void StepModel::set_replicas(int r) {
  require(r >= 1, "data-parallel replicas must be >= 1, got ", r);
  replicas_ = r;
}

double StepModel::optimizer_time(double params, int tensors) const {
  // Measured (a CPU's AdamW is bound by its square roots and divisions, not by memory), else
  // one fused multi-tensor AdamW launch per layer (or end layer) streaming its bytes.
  if (costs_.optimizer_per_param_s > 0) return params * costs_.optimizer_per_param_s;
  return params * costs_.optimizer_bytes_per_param / hw_.memory_bandwidth +
         tensors * hw_.kernel_overhead_s;
}

double StepModel::ring_allreduce(double bytes, int ranks_per_replica) const {
  const int R = replicas_;
  if (R <= 1) return 0;
  // Replica r of layer-rank p is global rank p + r·P: the ring stays inside a node only when all
  // replicas fit in one.
  const Link& l = R * ranks_per_replica <= hw_.ranks_per_node ? hw_.intra_node : hw_.inter_node;
  return 2.0 * (R - 1) / R * bytes / l.bandwidth + 2.0 * (R - 1) * l.latency_s;
}

Network StepModel::network() const {
  Network n;
  n.intra = hw_.intra_node;
  n.inter = hw_.inter_node;
  n.ranks_per_node = hw_.ranks_per_node;
  n.message_bytes = costs_.state_bytes;
  return n;
}

namespace {
double sum(const std::vector<double>& v, int first, int last) {
  return std::accumulate(v.begin() + first, v.begin() + last, 0.0);
}
double sum(const std::vector<double>& v) { return sum(v, 0, static_cast<int>(v.size())); }
double largest(const std::vector<double>& v, int first, int last) {
  return *std::max_element(v.begin() + first, v.begin() + last);
}
double param_store_bytes(int act_bytes) { return 4.0 + (act_bytes == 2 ? 2.0 : 0.0); }

void finish(StepBreakdown& t) {
  t.total = t.opening + t.forward + t.closing + t.adjoint + t.param_grad + t.embed_sync +
            t.optimizer + t.data_parallel;
}
}  // namespace

void finish_memory(MemoryUse& m, double capacity) {
  m.total = m.params + m.grads + m.optimizer + m.states + m.tapes + m.workspace;
  m.fits = m.total <= capacity;
}

void add_parameter_state(MemoryUse& m, double params, int act_bytes) {
  m.params += params * param_store_bytes(act_bytes);
  m.grads += params * 4;
  m.optimizer += params * 8;
}

StepBreakdown chain_time(const StepCosts& c, int first, int last, bool recompute) {
  StepBreakdown t;
  t.param_grad = sum(c.param_grad, first, last);
  if (recompute) {  // only layer inputs kept: the tapes are rebuilt, one at a time, in cache
    t.forward = sum(c.forward, first, last);
    t.adjoint = sum(c.adjoint_step, first, last);
  } else {  // every tape kept: written and read back through memory
    t.forward = sum(c.serial_forward, first, last);
    t.adjoint = sum(c.serial_backward, first, last) - t.param_grad;
  }
  return t;
}

void add_chain_activations(MemoryUse& m, const StepCosts& c, int first, int last, bool recompute,
                           int in_flight) {
  m.states += in_flight * (last - first + 1) * c.state_bytes;
  m.tapes += recompute ? largest(c.tape_bytes, first, last)
                       : in_flight * sum(c.tape_bytes, first, last);
}

SerialPrediction StepModel::serial() const {
  const StepCosts& c = costs_;
  const int N = shape_.layers;
  const double params = sum(c.params) + c.opening_params + c.closing_params;
  SerialPrediction s;
  MemoryUse base;
  add_parameter_state(base, params, shape_.act_bytes);
  base.workspace = c.closing_workspace;
  MemoryUse stored = base, recomputed = base;
  add_chain_activations(stored, c, 0, N, false, 1);
  add_chain_activations(recomputed, c, 0, N, true, 1);
  finish_memory(stored, hw_.memory_capacity);
  finish_memory(recomputed, hw_.memory_capacity);
  // Auto: checkpoint only when that makes the serial step fit; when even the parameters and
  // optimizer state exceed one rank the serial time is hypothetical anyway, and the cheaper
  // stored-tape variant keeps the reported speedup conservative.
  s.recompute = serial_mode_ == SerialMode::recompute ||
                (serial_mode_ == SerialMode::automatic && recomputed.fits && !stored.fits);
  s.memory = s.recompute ? recomputed : stored;

  StepBreakdown& t = s.time;
  t = chain_time(c, 0, N, s.recompute);
  t.opening = c.opening_fwd + c.opening_bwd;
  t.closing = c.closing_fwd + c.closing_bwd;
  t.optimizer = optimizer_time(params, N + 2);
  t.data_parallel = ring_allreduce(params * 4, 1);
  finish(t);
  return s;
}

// What each of the P ranks holds and does besides the solves.
struct RankLoads {
  std::vector<double> grad, params, tapes, states;  // seconds, counts, bytes, bytes
  std::vector<int> tensors;                         // optimizer launches
  explicit RankLoads(int P) : grad(P, 0), params(P, 0), tapes(P, 0), states(P, 0), tensors(P, 0) {}
};

namespace {

// Each solve keeps its values at every point of every level and, on coarse levels, its FAS
// right-hand sides: one vector on the finest level, two on coarser ones.
void add_solve_states(std::vector<double>& states, const Hierarchy& h, int levels,
                      double state_bytes) {
  for (int l = 0; l < levels; ++l)
    for (int j = 0; j < h.steps[l]; ++j)
      states[h.owner(l, j)] += (l == 0 ? 1.0 : 2.0) * state_bytes;
}

RankLoads rank_loads(const StepCosts& c, const Hierarchy& h, const Hierarchy& ha,
                     const MgritSettings& st, const MgritSettings& sa, int N) {
  const int P = h.ranks;
  RankLoads r(P);
  // Every fine step gets its parameter gradient inside the adjoint's final sweep, which the solve
  // cost already holds (the forward's final sweep keeps every tape). Index n is read twice with
  // the same layout: as step n of the reversed (adjoint) chain for the gradient sweep, and as
  // forward layer n for ownership, tapes and parameters.
  for (int n = 0; n < N; ++n) {
    const int p = h.fine_owner[n];
    r.grad[p] += c.param_grad[N - 1 - n];
    r.params[p] += c.params[n];
    r.tapes[p] += c.tape_bytes[n];
    r.tensors[p] += 1;
  }
  // Rank 0 opens and closes every solve (u_N travels to it, λ_N back), so it owns both ends and
  // a tied embedding once (adaptive/layer_parallel_step.hpp).
  r.params[0] += c.opening_params + c.closing_params;
  r.tensors[0] += 2;
  add_solve_states(r.states, h, st.levels, c.state_bytes);
  // An adjoint of one level is a plain sweep that keeps one vector. The adjoint's points are
  // owned by its own (reversed) layout.
  if (sa.levels == 1) {
    r.states[0] += c.state_bytes;
  } else if (st.adjoint.levels == 0) {  // the forward's cycle: the forward's owners
    add_solve_states(r.states, h, st.levels, c.state_bytes);
  } else {  // its own hierarchy, in reversed time: position q lives on rank P - 1 - q
    for (int l = 0; l < sa.levels; ++l)
      for (int j = 0; j < ha.steps[l]; ++j)
        r.states[std::clamp(P - 1 - ha.owner(l, j), 0, P - 1)] +=
            (l == 0 ? 1.0 : 2.0) * c.state_bytes;
  }
  return r;
}

}  // namespace

SolveCost StepModel::adjoint_cost(const MgritSettings& st, const Hierarchy& ha,
                                  const Network& net) const {
  const StepCosts& c = costs_;
  const int N = shape_.layers;
  // The adjoint runs backwards in layer index: the same solver, with the same layout rule, on the
  // reversed chain. A fine adjoint step replays the layer's forward unless its tape was kept;
  // coarse steps always do.
  std::vector<double> adj_fine(N), adj_coarse(N);
  for (int n = 0; n < N; ++n) {
    const int o = N - 1 - n;
    adj_coarse[n] = c.adjoint_step[o];
    adj_fine[n] = st.store_tapes ? c.vjp_state[o] : c.adjoint_step[o];
  }
  return mgrit_solve_cost(adj_fine, adj_coarse, ha, st.adjoint_settings(), st.bwd_iters, net,
                          c.vector_op_s);
}

void StepModel::step_time(Prediction& pr, const RankLoads& r, int ranks) const {
  const StepCosts& c = costs_;
  const int P = pr.ranks_used;
  StepBreakdown& t = pr.time;
  t.opening = c.opening_fwd + c.opening_bwd;
  t.forward = pr.forward_solve.total;
  t.closing = c.closing_fwd + c.closing_bwd;
  t.adjoint = pr.adjoint_solve.total;
  t.param_grad = *std::max_element(r.grad.begin(), r.grad.end());
  if (P > 1) {
    // Rank 0 closes: u_N comes from the last rank after the forward solve and λ_N goes back
    // before the adjoint one, both on the step's critical path (a tied embedding never moves).
    t.embed_sync = 2 * message_time(c.state_bytes, network().link(0, P - 1));
  }
  double max_params = 0;
  for (int p = 0; p < P; ++p) {
    t.optimizer = std::max(t.optimizer, optimizer_time(r.params[p], r.tensors[p]));
    max_params = std::max(max_params, r.params[p]);
  }
  t.data_parallel = ring_allreduce(max_params * 4, ranks);
  finish(t);
}

// The fullest rank's memory.
void StepModel::peak_memory(Prediction& pr, const RankLoads& r) const {
  const StepCosts& c = costs_;
  const double one_tape = largest(c.tape_bytes, 0, static_cast<int>(c.tape_bytes.size()));
  for (int p = 0; p < pr.ranks_used; ++p) {
    MemoryUse m;
    add_parameter_state(m, r.params[p], shape_.act_bytes);
    m.states = r.states[p];
    const bool kept = pr.settings.store_tapes || pr.settings.keep_tapes;
    m.tapes = kept ? r.tapes[p] + one_tape : one_tape;
    m.workspace = p == 0 ? c.closing_workspace : 0.0;  // rank 0 closes
    finish_memory(m, hw_.memory_capacity);
    if (p == 0 || m.total > pr.memory.total) pr.memory = m;
  }
}

Prediction StepModel::predict(int ranks, const MgritSettings& st) const {
  const StepCosts& c = costs_;
  const int N = shape_.layers;
  const Hierarchy h = build_hierarchy(N, ranks, st);
  const Network net = network();
  Prediction pr;
  pr.ranks_requested = ranks;
  pr.ranks_used = h.ranks;
  pr.replicas = replicas_;
  pr.settings = st;
  pr.forward_solve = mgrit_solve_cost(c.forward, c.forward, h, st, st.fwd_iters, net, c.vector_op_s);
  // The adjoint's reversed time is split as the solver splits it (rounding the other way), on
  // the adjoint's own cycle.
  const MgritSettings sa = st.adjoint_settings();
  const Hierarchy ha = build_hierarchy(N, ranks, sa, /*ceil_split=*/true);
  pr.adjoint_solve = adjoint_cost(st, ha, net);
  const RankLoads loads = rank_loads(c, h, ha, st, sa, N);
  step_time(pr, loads, ranks);
  peak_memory(pr, loads);
  pr.serial = serial();
  pr.speedup = pr.serial.time.total / pr.time.total;
  pr.efficiency = pr.speedup / ranks;
  return pr;
}

}  // namespace lpt::perf
