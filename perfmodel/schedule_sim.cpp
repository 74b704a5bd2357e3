#include "perfmodel/schedule_sim.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <tuple>

#include "perfmodel/cycle_settings.hpp"
#include "solver/core.hpp"
#include "util/error.hpp"

namespace lpt::perf {

namespace {

namespace mg = lpt::mgrit;

// Stateless states: the schedule does not depend on values when the tolerances are off.
struct NoState : mg::Vector {};

class NoApp : public mg::App {
 public:
  mg::VectorPtr alloc_like(const mg::Vector&) const override {
    return std::make_unique<NoState>();
  }
  void copy(const mg::Vector&, mg::Vector&) const override {}
  void axpby(double, const mg::Vector&, double, mg::Vector&) const override {}
  double norm_sq(const mg::Vector&) const override { return 0; }
  // One byte per state: the Core's message sizes then count states, and its buffers stay tiny.
  std::size_t packed_bytes(const mg::Vector&) const override { return 1; }
  void pack(const mg::Vector&, void*) const override {}
  void unpack(const void*, mg::Vector&) const override {}
  void step(const mg::StepInfo&, const mg::Vector&, mg::Vector&) override {}
  void backward(const mg::StepInfo&, const mg::Vector&, const mg::Vector&, mg::Vector*,
                bool) override {}
};

class NoProp : public mg::Propagator {
 public:
  explicit NoProp(bool adjoint) : adjoint_(adjoint) {}
  bool adjoint() const override { return adjoint_; }
  void step(int, long, long, const mg::Vector&, mg::Vector&, bool) override {}

 private:
  bool adjoint_;
};

// One rank's events with their costs resolved as they come: compute runs merged into one entry.
struct Event {
  enum class Kind { compute, send, recv, reduce } kind = Kind::compute;
  double seconds = 0;  // Compute
  int peer = 0, tag = 0;
  double states = 0;   // Send / Recv: message size in states
};

class Recorder : public mg::Trace {
 public:
  Recorder(const SimCosts& c, bool adjoint, long n, std::vector<long>& evals)
      : c_(c), adjoint_(adjoint), n_(n), evals_(evals) {}
  void step(int level, long fb, long fe, bool final) override {
    // The layer the real propagators use (injection, solver/solver.cpp): the forward step's left
    // end; the adjoint runs on reversed time, so its step [fb, fe) is forward step N - fe.
    const long layer = adjoint_ ? n_ - fe : fb;
    compute(c_.step(adjoint_, level, layer, final));
    ++evals_[level];
  }
  void vector_ops(int count) override { compute(count * c_.vector_op_s); }
  void send(int to, std::size_t bytes, int tag) override {
    events.push_back({Event::Kind::send, 0, to, tag, double(bytes)});
  }
  void wait_recv(int from, std::size_t bytes, int tag) override {
    events.push_back({Event::Kind::recv, 0, from, tag, double(bytes)});
  }
  void reduce() override { events.push_back({Event::Kind::reduce}); }
  std::vector<Event> events;

 private:
  void compute(double s) {
    if (!events.empty() && events.back().kind == Event::Kind::compute)
      events.back().seconds += s;
    else
      events.push_back({Event::Kind::compute, s});
  }
  const SimCosts& c_;
  bool adjoint_;
  long n_;
  std::vector<long>& evals_;
};

// Discrete-event replay: a rank runs until it waits for a message not yet sent or for a
// reduction not every rank has reached; a send or the last arrival wakes the waiters. Messages
// on one (from, to, tag) channel arrive in order, as MPI guarantees.
SimSolve replay(std::vector<std::vector<Event>>& ev, const SimCosts& c) {
  const int P = int(ev.size());
  SimSolve r;
  r.busy.assign(P, 0);
  std::vector<double> clock(P, 0);
  std::vector<std::size_t> pc(P, 0);
  using Key = std::tuple<int, int, int>;
  std::map<Key, std::vector<double>> sent;  // arrival times not yet received
  std::map<Key, std::size_t> taken;
  std::map<Key, int> waiter;
  std::vector<int> runnable(P);
  std::iota(runnable.rbegin(), runnable.rend(), 0);
  std::vector<int> at_reduce;
  double reduce_ready = 0;
  const double allreduce = c.net.allreduce_scalar(P);
  while (!runnable.empty()) {
    const int p = runnable.back();
    runnable.pop_back();
    while (pc[p] < ev[p].size()) {
      const Event& e = ev[p][pc[p]];
      if (e.kind == Event::Kind::compute) {
        clock[p] += e.seconds;
        r.busy[p] += e.seconds;
      } else if (e.kind == Event::Kind::send) {
        const Key k{p, e.peer, e.tag};
        sent[k].push_back(clock[p] + c.net.message(p, e.peer, e.states));
        ++r.messages;
        auto w = waiter.find(k);
        if (w != waiter.end()) {
          runnable.push_back(w->second);
          waiter.erase(w);
        }
      } else if (e.kind == Event::Kind::recv) {
        const Key k{e.peer, p, e.tag};
        auto& q = sent[k];
        std::size_t& i = taken[k];
        if (i == q.size()) {
          waiter[k] = p;
          break;
        }
        clock[p] = std::max(clock[p], q[i++]);
      } else {  // Reduce: every rank waits for the last, then the allreduce's latency tree
        at_reduce.push_back(p);
        reduce_ready = std::max(reduce_ready, clock[p]);
        if (int(at_reduce.size()) < P) break;
        for (int q : at_reduce) {
          clock[q] = reduce_ready + allreduce;
          if (q != p) {
            ++pc[q];
            runnable.push_back(q);
          }
        }
        at_reduce.clear();
        reduce_ready = 0;
        ++r.reductions;
      }
      ++pc[p];
    }
  }
  for (int p = 0; p < P; ++p)
    require(pc[p] == ev[p].size(), "schedule simulator: rank ", p, " is stuck at event ", pc[p],
            " of ", ev[p].size(), " (unmatched message or reduction; internal error)");
  r.makespan = *std::max_element(clock.begin(), clock.end());
  r.idle.resize(P);
  for (int p = 0; p < P; ++p) r.idle[p] = r.makespan - r.busy[p];
  return r;
}

}  // namespace

double SimSolve::work() const { return std::accumulate(busy.begin(), busy.end(), 0.0); }

ScheduleSimulator::ScheduleSimulator(int N, int P, const MgritSettings& s) : n_(N), p_(P), s_(s) {
  const MgritSettings a = s.adjoint_settings();
  std::string why = hierarchy_problem(N, s);
  if (why.empty()) why = hierarchy_problem(N, a);
  require(why.empty(), "schedule simulator: ", why);
  require(P >= 1, "schedule simulator: ranks must be >= 1, got ", P);
  const int most = std::min(max_ranks(N, s), max_ranks(N, a));
  require(P <= most, "schedule simulator: ", s.describe(), " on ", N, " layers splits over at most ",
          most, " ranks (the fine level's intervals); use at most ", most,
          " ranks or a smaller cfactor");
}

SimSolve ScheduleSimulator::run(bool adjoint, int iterations, const SimCosts& c) const {
  require(bool(c.step), "schedule simulator: SimCosts::step is not set");
  const MgritSettings s = adjoint ? s_.adjoint_settings() : s_;
  const mg::CycleOptions opt = cycle_options(s_, adjoint, iterations);
  NoApp app;
  NoProp prop(adjoint);
  NoState u0;
  std::vector<long> evals(s.levels, 0);
  std::vector<std::vector<Event>> ev(p_);
  for (int pos = 0; pos < p_; ++pos) {
    // The adjoint Comm mirrors positions onto ranks, as Solver::solve_adjoint does.
    mg::Core core(app, prop, opt, n_, mg::Comm::simulated(pos, p_, adjoint), 1);
    Recorder rec(c, adjoint, n_, evals);
    core.set_trace(&rec);
    core.reset(u0, [](long, mg::Vector&) {}, false);
    core.run({});
    ev[core.comm().rank()] = std::move(rec.events);
  }
  SimSolve r = replay(ev, c);
  r.evals = evals;
  return r;
}

SimCosts sim_costs(const StepModel& m, const MgritSettings& s) {
  const StepCosts& k = m.costs();
  SimCosts c;
  c.vector_op_s = k.vector_op_s;
  c.net = m.network();
  const bool tapes = s.store_tapes;
  c.step = [&k, tapes](bool adjoint, int level, long layer, bool final) {
    const auto n = static_cast<std::size_t>(layer);
    if (!adjoint) return k.forward[n];
    // Level-0 adjoint steps reuse the forward tapes when they were kept; coarse steps linearise
    // at restricted states and always replay the forward.
    double t = level == 0 && tapes ? k.vjp_state[n] : k.adjoint_step[n];
    if (final && level == 0) t += k.param_grad[n];
    return t;
  };
  return c;
}

SimulatedStep simulate_step(const StepModel& m, int ranks, const MgritSettings& s) {
  const Prediction p = m.predict(ranks, s);
  const SimCosts c = sim_costs(m, s);
  ScheduleSimulator sim(m.shape().layers, ranks, s);
  SimulatedStep r;
  r.forward = sim.run(false, s.fwd_iters, c);
  r.adjoint = sim.run(true, s.bwd_iters, c);
  r.total = p.time.total - p.time.forward - p.time.adjoint - p.time.param_grad +
            r.forward.makespan + r.adjoint.makespan;
  r.speedup = p.serial.time.total / r.total;
  return r;
}

}  // namespace lpt::perf
