#include "perfmodel/mgrit_cost.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "util/error.hpp"

namespace lpt::perf {

int MgritSettings::cf(int l) const {
  return cfactor[std::min<size_t>(static_cast<size_t>(l), cfactor.size() - 1)];
}

Relax MgritSettings::rx(int l) const {
  if (relax.empty()) return l == 0 ? Relax::F : Relax::FCF;
  return relax[std::min<size_t>(static_cast<size_t>(l), relax.size() - 1)];
}

MgritSettings MgritSettings::adjoint_settings() const {
  MgritSettings s = *this;
  if (adjoint.levels > 0) {
    s.levels = adjoint.levels;
    s.cfactor = adjoint.cfactor;
    s.relax = adjoint.relax;
    s.skip_first_down = adjoint.skip_first_down;
  }
  s.adjoint.levels = 0;
  return s;
}

namespace {

void describe_cycle(std::ostream& os, const MgritSettings& s) {
  os << "L" << s.levels;
  if (s.levels > 1) {
    os << " m" << s.cf(0);
    for (int l = 1; l + 1 < s.levels; ++l)
      if (s.cf(l) != s.cf(0)) os << "," << s.cf(l);
    os << " ";
    for (int l = 0; l + 1 < s.levels; ++l)
      os << (l ? "/" : "") << (s.rx(l) == Relax::F ? "F" : "FCF");
  }
}

}  // namespace

std::string MgritSettings::describe() const {
  std::ostringstream os;
  describe_cycle(os, *this);
  const MgritSettings a = adjoint_settings();
  const bool differs = a.levels != levels || a.cfactor != cfactor || a.relax != relax ||
                       a.skip_first_down != skip_first_down;
  if (levels > 1 || differs) os << " it" << fwd_iters << "/" << bwd_iters;
  if (differs) {
    os << " | bwd ";
    describe_cycle(os, a);
    if (a.skip_first_down != skip_first_down) os << (a.skip_first_down ? " skip" : " noskip");
  }
  return os.str();
}

int max_ranks(int N, const MgritSettings& s) { return s.levels > 1 ? N / s.cf(0) : N; }

std::string hierarchy_problem(int N, const MgritSettings& s) {
  std::ostringstream os;
  if (N < 1) return "the chain needs at least one step";
  if (s.levels < 1) return "levels must be >= 1";
  if (s.levels > 1 && s.cfactor.empty()) return "cfactor needs at least one value";
  for (int c : s.cfactor)
    if (c < 2) {
      os << "cfactor must be >= 2, got " << c;
      return os.str();
    }
  if (s.fwd_iters < 1 || s.bwd_iters < 1) return "iteration counts must be >= 1";
  int n = N;
  for (int l = 0; l + 1 < s.levels; ++l) {
    n /= s.cf(l);
    if (n < 1) {
      os << "level " << l + 1 << " would have no step (N=" << N << " is too short for "
         << s.levels << " levels with cfactor " << s.cf(l) << ")";
      return os.str();
    }
  }
  return "";
}

Hierarchy build_hierarchy(int N, int P, const MgritSettings& s, bool ceil_split) {
  const std::string why = hierarchy_problem(N, s);
  require(why.empty(), "MGRIT hierarchy: ", why);
  require(P >= 1, "ranks must be >= 1, got ", P);
  Hierarchy h;
  h.levels = s.levels;
  h.steps = {N};
  h.stride = {1};
  for (int l = 0; l + 1 < s.levels; ++l) {
    h.cfactor.push_back(s.cf(l));
    h.steps.push_back(h.steps[l] / s.cf(l));
    h.stride.push_back(h.stride[l] * s.cf(l));
  }
  int a = 0;
  if (s.levels > 1) {
    a = 1;
    for (int l = 1; l < s.levels; ++l)
      if (h.steps[l] >= P) a = l;
  }
  const int unit = h.stride[a], units = h.steps[a];
  h.ranks = std::min(P, units);
  h.fine_owner.resize(N);
  // Where the solver's blocks begin (solver/grid.cpp); which ranks take the larger blocks
  // matters, since the trailing steps also go to the last rank.
  const long R = h.ranks;
  auto first_unit = [&](long q) { return ceil_split ? (q * units + R - 1) / R : q * units / R; };
  std::vector<int> unit_owner(units);
  for (int p = 0; p < h.ranks; ++p)
    for (long u = first_unit(p); u < first_unit(p + 1); ++u) unit_owner[u] = p;
  for (int n = 0; n < N; ++n) h.fine_owner[n] = unit_owner[std::min(n / unit, units - 1)];
  return h;
}

const Link& Network::link(int a, int b) const {
  return a / ranks_per_node == b / ranks_per_node ? intra : inter;
}

double Network::message(int a, int b, double states) const {
  return message_time(states * message_bytes, link(a, b));
}

double Network::allreduce_scalar(int p) const {
  if (p <= 1) return 0;
  const Link& l = p > ranks_per_node ? inter : intra;
  return 2 * std::ceil(std::log2(double(p))) * l.latency_s;
}

namespace {

// Messages a phase needs: the slowest crossing between neighbouring ranks.
struct Crossings {
  bool intra = false, inter = false;
  void add(const Network& net, int a, int b) {
    if (a == b) return;
    (a / net.ranks_per_node == b / net.ranks_per_node ? intra : inter) = true;
  }
  bool any() const { return intra || inter; }
  double time(const Network& net, double states) const {
    double t = 0;
    if (intra) t = std::max(t, message_time(states * net.message_bytes, net.intra));
    if (inter) t = std::max(t, message_time(states * net.message_bytes, net.inter));
    return t;
  }
};

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double sum_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

// Per-rank work and messages of the phases on level l (< levels-1).
// Vector operations are counted as the solver performs them (solver/core.cpp), each one t_axpy.
struct LevelPhases {
  double f = 0, c = 0, r = 0, interp = 0;            // slowest rank's compute
  double inject = 0, fin = 0;  // level 0: correction of the C-points only; the final sweep
  double skip_r = 0;           // the skipped first down-cycle's restriction (copies only)
  double pack1 = 0, pack2 = 0; // packing and unpacking a sweep's boundary message of 1, 2 states
  double msg_f = 0, msg_c = 0, msg_r = 0;            // messages the phase waits for
  double work_f = 0, work_c = 0, work_r = 0, work_i = 0;  // summed over ranks
  double work_inject = 0, work_fin = 0, work_skip_r = 0;
};

LevelPhases level_phases(const std::vector<double>& step_s, const std::vector<double>& coarse_s,
                         const Hierarchy& h, int l, const Network& net, double vec) {
  const int P = h.ranks, m = h.cfactor[l], Nl = h.steps[l];
  const std::vector<double>& ts = l == 0 ? step_s : coarse_s;
  auto t_l = [&](int j) { return ts[static_cast<size_t>(j) * h.stride[l]]; };
  auto t_c = [&](int i) { return coarse_s[static_cast<size_t>(i) * h.stride[l + 1]]; };
  std::vector<double> f(P, 0), c(P, 0), r(P, 0), ip(P, 0), fin(P, 0), rs(P, 0);
  Crossings xc, xcoarse;
  double chain_msgs = 0;  // slowest F-interval's messages: one per rank change along it
  double interval_msgs = 0;
  for (int j = 0; j < Nl; ++j) {
    if (j % m == 0) interval_msgs = 0;
    if ((j + 1) % m != 0) {
      // F-step. An interval that spans ranks is a chain through them: charge its whole work to
      // the rank of its C-point (same critical path) and one message per rank change.
      const int p = h.owner(l, (j / m) * m);
      f[p] += t_l(j) + (l > 0 ? vec : 0.0);  // coarse levels add the FAS right-hand side
      if (j % m != 0 && h.owner(l, j) != h.owner(l, j - 1))
        interval_msgs += net.message(h.owner(l, j - 1), h.owner(l, j));
      chain_msgs = std::max(chain_msgs, interval_msgs);
    } else {
      // C-step into C-point j+1, computed by the rank that holds its input F-point (blocks stay
      // balanced: q C-steps per rank); the result, and the residual there, go to the C-point's
      // owner when that is the next rank.
      const int p = h.owner(l, j);
      c[p] += t_l(j) + (l > 0 ? 2 : 1) * vec;  // C-relaxation: copy Φ in (+ the FAS rhs)
      // Restriction: inject the C-point, FAS rhs = copy Φ, subtract the coarse step (+ this
      // level's rhs); on level 0 also the residual norm's copy, subtraction and norm.
      r[p] += t_l(j) + (l == 0 ? 6 : 4) * vec;
      rs[p] += 2 * vec;         // skipped down-cycle: inject, and copy (or zero) the rhs
      ip[p] += vec;             // correction at the C-point
      fin[p] += t_l(j) + 3 * vec;  // the final sweep's C-step and the final residual there
      xc.add(net, p, h.point_owner(l, j + 1));
    }
  }
  for (int i = 0; i < h.steps[l + 1]; ++i) {  // FAS right-hand side A_c(R u) on level l+1
    const int p = h.owner(l + 1, i);
    r[p] += t_c(i);
    xcoarse.add(net, p, h.point_owner(l + 1, i + 1));
  }
  LevelPhases ph;
  const double pk = P > 1 ? vec : 0.0;  // a rank with neighbours packs and unpacks
  ph.pack1 = 2 * pk;
  ph.pack2 = 4 * pk;
  ph.skip_r = max_of(rs);
  ph.work_skip_r = sum_of(rs);
  ph.inject = max_of(ip);
  ph.work_inject = sum_of(ip);
  for (int p = 0; p < P; ++p) {
    fin[p] += f[p];
    ip[p] += f[p];
  }
  ph.fin = max_of(fin);
  ph.work_fin = sum_of(fin);
  ph.f = max_of(f);
  ph.c = max_of(c);
  ph.r = max_of(r);
  ph.interp = max_of(ip);
  ph.work_f = sum_of(f);
  ph.work_c = sum_of(c);
  ph.work_r = sum_of(r);
  ph.work_i = sum_of(ip);
  ph.msg_f = chain_msgs;
  ph.msg_c = xc.time(net, 1);
  // The F-point for the residual and the previous coarse point travel in one message.
  Crossings xr = xc;
  xr.intra = xr.intra || xcoarse.intra;
  xr.inter = xr.inter || xcoarse.inter;
  ph.msg_r = xr.time(net, (xc.any() && xcoarse.any()) ? 2 : 1);
  return ph;
}

}  // namespace

SolveCost mgrit_solve_cost(const std::vector<double>& step_s, const std::vector<double>& coarse_s,
                           const Hierarchy& h, const MgritSettings& s, int iterations,
                           const Network& net, double vector_op_s) {
  require(step_s.size() == h.fine_owner.size() && coarse_s.size() == step_s.size(),
          "mgrit_solve_cost: step times (", step_s.size(), ") do not match the hierarchy (",
          h.fine_owner.size(), " steps)");
  require(iterations >= 1, "MGRIT iterations must be >= 1, got ", iterations);
  const int L = h.levels;
  SolveCost sc;
  sc.iterations = L == 1 ? 1 : iterations;  // one level: a serial (pipelined) sweep, exact
  sc.levels.resize(std::max(0, L - 1));

  // Coarsest level: sequential stepping along the chain of ranks.
  const int c = L - 1;
  const std::vector<double>& tc = c == 0 ? step_s : coarse_s;
  double coarse_solve = 0;
  for (int j = 0; j < h.steps[c]; ++j) {
    // Below level 0 every step adds its point's FAS right-hand side (one axpy).
    coarse_solve += tc[static_cast<size_t>(j) * h.stride[c]] + (c > 0 ? vector_op_s : 0.0);
    if (j > 0 && h.owner(c, j) != h.owner(c, j - 1))  // + pack and unpack of the state
      coarse_solve += net.message(h.owner(c, j - 1), h.owner(c, j)) + 2 * vector_op_s;
  }
  std::vector<LevelPhases> ph;
  for (int l = 0; l + 1 < L; ++l)
    ph.push_back(level_phases(step_s, coarse_s, h, l, net, vector_op_s));

  for (int it = 1; it <= sc.iterations; ++it) {
    const bool down = !(it == 1 && s.skip_first_down);
    if (down) {
      for (int l = 0; l + 1 < L; ++l) {
        PhaseTimes& pt = sc.levels[l];
        const LevelPhases& p = ph[l];
        pt.relax += p.f;
        pt.comm += p.msg_f;
        sc.work += p.work_f;
        if (s.rx(l) == Relax::FCF) {  // then C and F again
          pt.relax += p.pack1 + p.c + p.f;
          pt.comm += p.msg_c + p.msg_f;
          sc.work += p.work_c + p.work_f;
        }
        pt.relax += p.pack2;  // the sweep before restriction sends Φ and the coarse step
        pt.restrict_ += p.r;
        pt.comm += p.msg_r;
        sc.work += p.work_r;
        if (l == 0) sc.reductions += net.allreduce_scalar(h.ranks);  // residual norm
      }
    } else {
      for (int l = 0; l + 1 < L; ++l) {
        sc.levels[l].restrict_ += ph[l].skip_r;
        sc.work += ph[l].work_skip_r;
      }
    }
    sc.coarsest += coarse_solve;
    for (int l = L - 2; l >= 0; --l) {
      if (l == 0) {
        // Level 0 only takes the corrected C-points: its F-points are refreshed by the next
        // relaxation or by the final sweep (as solver/core.cpp does; docs/mgrit.md).
        sc.levels[0].interp += ph[0].inject;
        sc.work += ph[0].work_inject;
        continue;
      }
      sc.levels[l].interp += ph[l].interp;
      sc.levels[l].comm += ph[l].msg_f;
      sc.work += ph[l].work_i;
    }
  }
  if (L > 1) {
    // Final sweep: every level-0 step once (F-steps and the steps into the C-points, where the
    // final residual is taken), its message to the next rank, and that residual's allreduce.
    sc.final_sweep = ph[0].fin + ph[0].pack1 + ph[0].msg_c;
    sc.work += ph[0].work_fin;
    sc.reductions += net.allreduce_scalar(h.ranks);
  }
  double coarse_work = 0;
  for (int j = 0; j < h.steps[c]; ++j) coarse_work += tc[static_cast<size_t>(j) * h.stride[c]];
  sc.work += coarse_work * sc.iterations;
  sc.total = sc.coarsest + sc.reductions + sc.final_sweep;
  for (const auto& pt : sc.levels) sc.total += pt.relax + pt.restrict_ + pt.interp + pt.comm;
  return sc;
}

}  // namespace lpt::perf
