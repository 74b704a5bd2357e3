#include "train/model_split.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include "adaptive/layer_parallel_step.hpp"
#include "solver/solver.hpp"
#include "train/pipeline_step.hpp"

namespace lpt {

int layer_of_param(const std::string& name, const ModelSection& m) {
  auto index = [&](const char* prefix) -> int {
    const std::size_t k = std::char_traits<char>::length(prefix);
    if (name.compare(0, k, prefix) != 0) return -1;
    const std::size_t dot = name.find('.', k);
    if (dot == std::string::npos || dot == k) return -1;
    return std::stoi(name.substr(k, dot - k));
  };
  if (m.family == Family::mt) {
    if (const int e = index("enc."); e >= 0) return e;
    if (const int d = index("dec."); d >= 0) return m.enc_layers + d;
    return -1;
  }
  return index("layers.");
}

namespace {

using Solves = std::vector<std::pair<mgrit::CycleOptions, mgrit::CycleOptions>>;

// The (forward, adjoint) cycles of every solve the run may make; the first is the starting mode's.
Solves solves_of(const RunConfig& c) {
  const SolverConfig exact = exact_solver(c.solver);
  MgritConfig one = c.solver.forward;
  one.levels = 1;
  one.iterations = 1;
  const auto parallel = std::make_pair(solve_options(c.solver.forward),
                                       solve_options(c.solver.backward));
  const auto serial_forward = std::make_pair(solve_options(one), solve_options(c.solver.backward));
  const auto serial = std::make_pair(solve_options(exact.forward), solve_options(exact.backward));
  switch (c.solver.mode) {
    case SolverMode::serial: return {serial};
    case SolverMode::parallel:
      return c.monitor.every > 0 ? Solves{parallel, serial} : Solves{parallel};
    case SolverMode::serial_forward:
      return c.monitor.every > 0 ? Solves{serial_forward, serial} : Solves{serial_forward};
    case SolverMode::adaptive: return {parallel, serial_forward, serial};
    case SolverMode::pipeline: break;
  }
  return {serial};
}

}  // namespace

ParamShards split_model(const RunConfig& cfg, MPI_Comm group) {
  int P = 1, init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_size(group, &P);
  if (P == 1) return ParamShards();
  const long N = cfg.model.total_layers();
  auto layer_of = [m = cfg.model](const std::string& name) { return layer_of_param(name, m); };
  std::vector<std::vector<long>> reads(P);
  if (cfg.solver.mode == SolverMode::pipeline) {
    const std::vector<int> owner = PipelineStep::owners(N, P);
    for (long n = 0; n < N; ++n) reads[owner[n]].push_back(n);
    return ParamShards(group, owner, reads, {P - 1}, layer_of);
  }
  const auto solves = solves_of(cfg);
  std::vector<int> owner(N, 0);
  for (int r = 0; r < P; ++r) {
    std::set<long> all;
    for (std::size_t k = 0; k < solves.size(); ++k) {
      const mgrit::RankLayers l =
          mgrit::rank_layers(N, solves[k].first, solves[k].second, P, r);
      if (k == 0)
        for (long n : l.forward) owner[n] = r;
      all.insert(l.forward.begin(), l.forward.end());
      all.insert(l.adjoint.begin(), l.adjoint.end());
      all.insert(l.gradient.begin(), l.gradient.end());
    }
    reads[r].assign(all.begin(), all.end());
  }
  return ParamShards(group, owner, reads, {}, layer_of);
}

}  // namespace lpt
