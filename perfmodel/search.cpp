#include "perfmodel/search.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace lpt::perf {

void ConvergenceTable::add(const ConvergenceEntry& e) {
  require(e.rho_fwd >= 0 && e.rho_bwd >= 0, "convergence factors must be >= 0 (levels ",
          e.levels, ", cfactor ", e.cfactor, ")");
  entries_.push_back(e);
}

int ConvergenceTable::iterations_for(double rho, double tol, int max_iters) {
  if (rho <= 0) return std::min(1, max_iters);
  if (rho >= 1) return max_iters;  // no convergence: the cap decides
  const int k = 1 + static_cast<int>(std::ceil(std::log(tol) / std::log(rho) - 1e-12));
  return std::max(1, std::min(k, max_iters));
}

std::optional<std::pair<int, int>> ConvergenceTable::iterations(int levels, int cfactor) const {
  for (const auto& e : entries_)
    if (e.levels == levels && e.cfactor == cfactor)
      return std::make_pair(iterations_for(e.rho_fwd, tol_, max_iters_),
                            iterations_for(e.rho_bwd, tol_, max_iters_));
  return std::nullopt;
}

ConvergenceTable load_convergence_table(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "cannot open convergence table '", path, "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    fail("convergence table '", path, "' is not valid JSON: ", e.what());
  }
  require(j.is_object() && j.contains("entries") && j["entries"].is_array(), path,
          ": expected {\"tolerance\", \"max_iters\", \"entries\": [...]}");
  for (const auto& [k, v] : j.items()) {
    (void)v;
    require(k == "tolerance" || k == "max_iters" || k == "entries", path, ": unknown key '", k,
            "'");
  }
  ConvergenceTable t;
  require(j.contains("tolerance") && j.contains("max_iters"), path,
          ": missing key 'tolerance' or 'max_iters'");
  t.set_tolerance(j["tolerance"].get<double>());
  t.set_max_iters(j["max_iters"].get<int>());
  for (const auto& e : j["entries"]) {
    for (const char* k : {"levels", "cfactor", "rho_fwd", "rho_bwd"})
      require(e.contains(k), path, ": an entry lacks '", k, "'");
    require(e.size() == 4, path, ": an entry has keys beyond levels, cfactor, rho_fwd, rho_bwd");
    t.add({e["levels"].get<int>(), e["cfactor"].get<int>(), e["rho_fwd"].get<double>(),
           e["rho_bwd"].get<double>()});
  }
  return t;
}

SearchResult search_best(const StepModel& model, int ranks, const SearchGrid& grid) {
  SearchResult r;
  bool have = false;
  const int N = model.shape().layers;
  auto consider = [&](const MgritSettings& s) {
    if (!hierarchy_problem(N, s).empty()) {
      ++r.skipped;
      return;
    }
    // A setting with fewer fine intervals than ranks runs on as many ranks as it has intervals
    // (the model's hierarchy caps them); the others idle but were still booked.
    Prediction p = model.predict(ranks, s);
    p.ranks_requested = ranks;
    p.efficiency = p.speedup / ranks;
    if (grid.require_fit && !p.memory.fits) {
      ++r.skipped;
      return;
    }
    if (!have || p.time.total < r.best.time.total) r.best = p;
    have = true;
    r.tried.push_back(std::move(p));
  };
  if (grid.fixed) {
    const std::string why = hierarchy_problem(N, *grid.fixed);
    require(why.empty(), "the MGRIT setting cannot run ", N, " layers: ", why);
    consider(*grid.fixed);
    require(have, "the MGRIT setting does not fit in the memory of a rank for N=", N, " on ",
            ranks, " ranks");
    return r;
  }
  for (int L : grid.levels) {
    // One level has no coarsening: try it once, whatever the cfactors.
    const std::vector<int> cfs = L == 1 ? std::vector<int>{2} : grid.cfactors;
    for (int m : cfs) {
      MgritSettings s;
      s.levels = L;
      s.cfactor = {m};
      s.relax = grid.relax;
      s.store_tapes = grid.store_tapes;
      s.fwd_iters = grid.fwd_iters;
      s.bwd_iters = grid.bwd_iters;
      if (grid.table && L > 1) {
        const auto it = grid.table->iterations(L, m);
        if (!it) {
          ++r.skipped;
          continue;
        }
        s.fwd_iters = it->first;
        s.bwd_iters = it->second;
      }
      consider(s);
    }
  }
  require(have, "no MGRIT setting in the search grid is usable for N=", N, " on ", ranks,
          " ranks (", r.skipped, " skipped: no hierarchy, no convergence entry or no memory fit)");
  return r;
}

}  // namespace lpt::perf
