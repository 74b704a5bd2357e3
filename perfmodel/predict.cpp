#include "perfmodel/predict.hpp"

#include <map>

#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace lpt::perf {

namespace {

double ms(double s) { return s * 1e3; }
double gb(double b) { return b / 1e9; }

StepModel step_model_for(const PredictOptions& o, const HardwareProfile& hw, int N) {
  ModelShape s = o.shape;
  s.layers = N;
  if (s.family == Family::mt && s.enc_layers == 0) s.enc_layers = N / 2;
  StepModel model(s, hw);
  if (!o.measured.empty()) model.set_measured(load_measured_times(o.measured));
  model.set_replicas(o.replicas);
  model.set_serial_mode(o.serial_mode);
  return model;
}


}  // namespace

Prediction best_prediction(const PredictOptions& o, const HardwareProfile& hw, int N, int P,
                           int* tried) {
  const StepModel model = step_model_for(o, hw, N);
  ConvergenceTable table;
  SearchGrid grid = o.grid;
  if (!o.search) {
    grid.levels.resize(1);
    grid.cfactors.resize(1);
  }
  if (!o.convergence.empty()) {
    table = load_convergence_table(o.convergence);
    grid.table = &table;
  }
  SearchResult r = search_best(model, P, grid);
  if (tried) *tried = static_cast<int>(r.tried.size());
  return r.best;
}

namespace {

// Smallest N with speedup > 1 on P ranks (the best speedup grows with N, for fixed P, once N
// exceeds a few blocks).
Crossover find_crossover(const PredictOptions& o, const HardwareProfile& hw, int P) {
  Crossover c;
  c.ranks = P;
  std::map<int, Prediction> seen;
  c.depth = smallest_winning_depth(
      [&](int N) {
        // A fixed setting (a run config's cycle) has no hierarchy below some depth: not a win.
        if (o.grid.fixed && !hierarchy_problem(N, *o.grid.fixed).empty()) return false;
        const Prediction p = best_prediction(o, hw, N, P);
        seen[N] = p;
        return p.speedup > 1.0;
      },
      o.crossover_max_depth);
  if (c.depth > 0) c.at = seen[c.depth];
  return c;
}

PlanSpace plan_space(const PredictOptions& o) {
  PlanSpace sp;
  sp.global_batch = o.global_batch;
  sp.micro_batches = o.micro_batches;
  sp.grid = o.grid;
  // --measured A.json,B.json,...: layer times at several micro-batch sizes.
  for (std::size_t at = 0; at < o.measured.size();) {
    const std::size_t comma = std::min(o.measured.find(',', at), o.measured.size());
    if (comma > at) sp.measured.push_back(load_measured_times(o.measured.substr(at, comma - at)));
    at = comma + 1;
  }
  if (!o.search) {
    sp.grid.levels.resize(1);
    sp.grid.cfactors.resize(1);
  }
  return sp;
}

PlanComparison plans_at(const PredictOptions& o, const HardwareProfile& hw, const PlanSpace& sp,
                        int N, int G) {
  ModelShape s = o.shape;
  s.layers = N;
  if (s.family == Family::mt && s.enc_layers == 0) s.enc_layers = N / 2;
  return compare_plans(s, hw, G, sp);
}

PlanCrossover find_plan_crossover(const PredictOptions& o, const HardwareProfile& hw,
                                  const PlanSpace& sp, int G) {
  PlanCrossover c;
  c.devices = G;
  std::map<int, PlanComparison> seen;
  c.depth = smallest_winning_depth(
      [&](int N) {
        const PlanComparison pc = plans_at(o, hw, sp, N, G);
        seen[N] = pc;
        return layer_parallel_wins(pc);
      },
      o.plans_max_depth);
  if (c.depth > 0) c.at = seen[c.depth];
  return c;
}

void run_plans(const PredictOptions& o, PredictReport& r) {

  require(o.convergence.empty() || o.search, "--plans with --convergence needs the search grid");
  ConvergenceTable table;
  PlanSpace spt = plan_space(o);
  if (!o.convergence.empty()) {
    table = load_convergence_table(o.convergence);
    spt.grid.table = &table;
  }
  r.global_batch = o.global_batch;
  for (int N : o.layers)
    for (int G : o.ranks) r.plans.push_back(plans_at(o, r.hw, spt, N, G));
  if (o.crossover)
    for (int G : o.ranks) r.plan_crossovers.push_back(find_plan_crossover(o, r.hw, spt, G));
}

}  // namespace

int smallest_winning_depth(const std::function<bool(int)>& wins, int max_depth) {
  int lo = 1, hi = 2;
  while (hi <= max_depth && !wins(hi)) {
    lo = hi;
    hi *= 2;
  }
  if (hi > max_depth) return -1;
  while (hi - lo > 1) {
    const int mid = lo + (hi - lo) / 2;
    (wins(mid) ? hi : lo) = mid;
  }
  return hi;
}

PredictReport run_prediction(const PredictOptions& o) {
  PredictReport r;
  r.hw = load_profile(resolve_profile_path(o.profile));
  r.shape = o.shape;
  r.simulate = o.simulate;
  if (o.plans) {
    require(!o.simulate, "--simulate replays one layer-parallel group; it does not apply to "
            "--plans (drop one of them)");
    require(o.replicas == 1, "--plans chooses the data-parallel groups itself; drop --replicas");
    run_plans(o, r);
    return r;
  }
  for (int N : o.layers)
    for (int P : o.ranks) {
      PredictRow row;
      row.layers = N;
      row.ranks = P;
      row.best = best_prediction(o, r.hw, N, P, &row.tried);
      // The simulator runs the solver's own cycle on the ranks that own layers.
      const int used = row.best.ranks_used;
      const MgritSettings& bs = row.best.settings;
      if (o.simulate && used <= std::min(max_ranks(N, bs), max_ranks(N, bs.adjoint_settings()))) {
        row.sim = simulate_step(step_model_for(o, r.hw, N), used, row.best.settings);
        row.sim.speedup = row.best.serial.time.total / row.sim.total;
        row.simulated = true;
      }
      r.rows.push_back(row);
    }
  if (o.crossover)
    for (int P : o.ranks) r.crossovers.push_back(find_crossover(o, r.hw, P));
  return r;
}

void print_report(const PredictReport& r, std::FILE* out) {
  if (!r.plans.empty()) return print_plans(r, out);
  const ModelShape& s = r.shape;
  std::fprintf(out, "profile %s; %s B=%d T=%d d=%d H=%d d_ff=%d vocab=%d %s%s\n", r.hw.name.c_str(),
               to_string(s.family), s.batch, s.tokens(), s.d, s.heads, s.d_ff, s.vocab,
               s.act_bytes == 2 ? "bf16" : "fp32", s.flash_attention ? " flash" : "");
  const bool sim = r.simulate;
  std::fprintf(out, "%6s %5s %5s %-22s %10s %10s %9s %9s %9s %9s %8s %6s %7s %4s %7s", "N",
               "P", "used", "best", "serial_ms", "lp_ms", "fwd_ms", "adj_ms", "grad_ms",
               "other_ms", "speedup", "eff", "mem_GB", "fit", "ser_GB");
  if (sim) std::fprintf(out, " %10s %9s", "sim_ms", "sim/model");
  std::fprintf(out, "\n");
  for (const auto& row : r.rows) {
    const Prediction& p = row.best;
    const StepBreakdown& t = p.time;
    const double other = t.total - t.forward - t.adjoint - t.param_grad;
    std::fprintf(out,
                 "%6d %5d %5d %-22s %10.2f %10.2f %9.2f %9.2f %9.2f %9.2f %8.2f %6.3f %7.1f %4s "
                 "%6.0f%1s",
                 row.layers, row.ranks, p.ranks_used, p.settings.describe().c_str(),
                 ms(p.serial.time.total), ms(t.total), ms(t.forward), ms(t.adjoint),
                 ms(t.param_grad), ms(other), p.speedup, p.efficiency, gb(p.memory.total),
                 p.memory.fits ? "yes" : "no", gb(p.serial.memory.total),
                 p.serial.memory.fits ? "" : "*");
    if (sim && row.simulated)
      std::fprintf(out, " %10.2f %9.3f", ms(row.sim.total), row.sim.total / t.total);
    else if (sim)
      std::fprintf(out, " %10s %9s", "-", "-");
    std::fprintf(out, "\n");
  }
  std::fprintf(out,
               "(used: ranks that own layers; ser_GB: the serial reference's memory on one rank, "
               "* = does not fit, its time is then hypothetical)\n");
  if (sim)
    std::fprintf(out, "(sim_ms: the schedule simulator's step; '-' where the adjoint's cycle "
                      "splits over fewer ranks than the forward's)\n");
  if (!r.crossovers.empty()) {
    std::fprintf(out, "\ndepth at which layer-parallel beats serial:\n");
    for (const auto& c : r.crossovers) {
      if (c.depth < 0)
        std::fprintf(out, "  P=%-5d none up to the search limit\n", c.ranks);
      else
        std::fprintf(out, "  P=%-5d N >= %-6d (there: %s, speedup %.2f)\n", c.ranks, c.depth,
                     c.at.settings.describe().c_str(), c.at.speedup);
    }
  }
}

nlohmann::json memory_to_json(const MemoryUse& m) {
  return nlohmann::json{{"params", m.params},       {"grads", m.grads},
                        {"optimizer", m.optimizer}, {"states", m.states},
                        {"tapes", m.tapes},         {"workspace", m.workspace},
                        {"total", m.total},         {"fits", m.fits}};
}

nlohmann::json prediction_to_json(const Prediction& p) {
  auto times = [](const StepBreakdown& t) {
    return nlohmann::json{{"opening", t.opening},     {"forward", t.forward},
                          {"closing", t.closing},     {"adjoint", t.adjoint},
                          {"param_grad", t.param_grad}, {"embed_sync", t.embed_sync},
                          {"optimizer", t.optimizer}, {"data_parallel", t.data_parallel},
                          {"total", t.total}};
  };
  auto solve = [](const SolveCost& sc) {
    nlohmann::json levels = nlohmann::json::array();
    for (const auto& l : sc.levels)
      levels.push_back({{"relax", l.relax}, {"restrict", l.restrict_}, {"interp", l.interp},
                        {"comm", l.comm}});
    return nlohmann::json{{"iterations", sc.iterations}, {"total", sc.total},
                          {"coarsest", sc.coarsest},     {"reductions", sc.reductions},
                          {"final_sweep", sc.final_sweep},
                          {"work", sc.work},             {"levels", levels}};
  };
  nlohmann::json j;
  j["forward_solve_s"] = solve(p.forward_solve);
  j["adjoint_solve_s"] = solve(p.adjoint_solve);
  j["ranks_requested"] = p.ranks_requested;
  j["ranks_used"] = p.ranks_used;
  j["replicas"] = p.replicas;
  j["settings"] = {{"levels", p.settings.levels},
                   {"cfactor", p.settings.levels > 1 ? p.settings.cf(0) : 1},
                   {"fwd_iters", p.settings.fwd_iters},
                   {"bwd_iters", p.settings.bwd_iters},
                   {"store_tapes", p.settings.store_tapes},
                   {"describe", p.settings.describe()}};
  j["time_s"] = times(p.time);
  j["memory_bytes"] = memory_to_json(p.memory);
  j["serial"] = {{"time_s", times(p.serial.time)},
                 {"memory_bytes", memory_to_json(p.serial.memory)},
                 {"recompute", p.serial.recompute}};
  j["speedup"] = p.speedup;
  j["efficiency"] = p.efficiency;
  return j;
}

nlohmann::json report_to_json(const PredictReport& r) {
  if (!r.plans.empty()) return plans_to_json(r);
  nlohmann::json j;
  j["profile"] = profile_to_json(r.hw);
  const ModelShape& s = r.shape;
  j["model"] = {{"family", to_string(s.family)}, {"batch", s.batch}, {"seq", s.tokens()},
                {"d", s.d}, {"heads", s.heads}, {"d_ff", s.d_ff}, {"vocab", s.vocab},
                {"act_bytes", s.act_bytes}, {"flash_attention", s.flash_attention}};
  j["rows"] = nlohmann::json::array();
  for (const auto& row : r.rows) {
    nlohmann::json e = prediction_to_json(row.best);
    e["layers"] = row.layers;
    e["ranks"] = row.ranks;
    e["grid_points_tried"] = row.tried;
    if (row.simulated) {
      e["simulated"] = {{"total_s", row.sim.total},
                        {"speedup", row.sim.speedup},
                        {"forward_s", row.sim.forward.makespan},
                        {"adjoint_s", row.sim.adjoint.makespan},
                        {"busy_fwd_s", row.sim.forward.busy},
                        {"busy_adj_s", row.sim.adjoint.busy},
                        {"messages", row.sim.forward.messages + row.sim.adjoint.messages}};
    }
    j["rows"].push_back(e);
  }
  j["crossovers"] = nlohmann::json::array();
  for (const auto& c : r.crossovers) {
    nlohmann::json e = {{"ranks", c.ranks}, {"depth", c.depth}};
    if (c.depth > 0) e["at"] = prediction_to_json(c.at);
    j["crossovers"].push_back(e);
  }
  return j;
}

}  // namespace lpt::perf
