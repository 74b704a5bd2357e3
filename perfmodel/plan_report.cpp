// `lpt predict --plans`: the plans' table per (N, G), the winners' grid and the crossover depths,
// as text and as JSON (perfmodel/predict.hpp declares them).
#include <algorithm>

#include <nlohmann/json.hpp>

#include "perfmodel/predict.hpp"

namespace lpt::perf {

namespace {

double ms(double s) { return s * 1e3; }
double gb(double b) { return b / 1e9; }

const Plan* winner(const PlanComparison& c) { return c.winner < 0 ? nullptr : &c.best[c.winner]; }

void print_plan_row(const PlanComparison& c, const Plan& p, bool first, bool won, std::FILE* out) {
  std::fprintf(out, "%6s %5s %-14s %-38s %6d %10.2f %8.2f %6.3f %7.1f %4s %s\n",
               first ? std::to_string(c.layers).c_str() : "",
               first ? std::to_string(c.devices).c_str() : "", to_string(p.family),
               p.describe().c_str(), p.micro_batch, ms(p.time.total), p.speedup,
               p.family == PlanFamily::pipeline ? p.bubble : 0.0, gb(p.memory.total),
               p.memory.fits ? "yes" : "no", won ? "<- fastest that fits" : "");
}

// One cell per (N, G): the family of the fastest plan that fits, and its speedup over serial.
void print_winner_grid(const PredictReport& r, std::FILE* out) {
  std::vector<int> Ns, Gs;
  for (const auto& c : r.plans) {
    if (std::find(Ns.begin(), Ns.end(), c.layers) == Ns.end()) Ns.push_back(c.layers);
    if (std::find(Gs.begin(), Gs.end(), c.devices) == Gs.end()) Gs.push_back(c.devices);
  }
  std::fprintf(out, "\nfastest plan that fits (speedup over serial):\n%6s", "N \\ G");
  for (int G : Gs) std::fprintf(out, " %24d", G);
  std::fprintf(out, "\n");
  for (int N : Ns) {
    std::fprintf(out, "%6d", N);
    for (int G : Gs)
      for (const auto& c : r.plans)
        if (c.layers == N && c.devices == G) {
          const Plan* w = winner(c);
          char cell[64];
          if (w) std::snprintf(cell, sizeof cell, "%s %.1fx", to_string(w->family), w->speedup);
          else std::snprintf(cell, sizeof cell, "none fits");
          std::fprintf(out, " %24s", cell);
        }
    std::fprintf(out, "\n");
  }
}

void print_plan_crossovers(const PredictReport& r, std::FILE* out) {
  std::fprintf(out, "\ndepth from which layer-parallel (alone or with data parallelism) beats every "
                    "exact plan that fits:\n");
  for (const auto& x : r.plan_crossovers) {
    if (x.depth < 0) {
      std::fprintf(out, "  G=%-5d none up to the search limit\n", x.devices);
      continue;
    }
    const PlanComparison& c = x.at;
    const Plan& lp = *winner(c);
    std::fprintf(out, "  G=%-5d N >= %-6d (there: %s %.2f ms", x.devices, x.depth,
                 lp.describe().c_str(), ms(lp.time.total));
    if (c.best_exact >= 0) {
      const Plan& ex = c.best[c.best_exact];
      std::fprintf(out, " against %s %s %.2f ms", to_string(ex.family), ex.describe().c_str(),
                   ms(ex.time.total));
    } else {
      std::fprintf(out, "; no exact plan fits");
    }
    std::fprintf(out, ")\n");
  }
}

nlohmann::json plan_to_json(const Plan& p) {
  const PlanTime& t = p.time;
  nlohmann::json j = {{"family", to_string(p.family)},
                      {"D", p.D},
                      {"P", p.P},
                      {"k", p.k},
                      {"micro_batch", p.micro_batch},
                      {"describe", p.describe()},
                      {"time_s",
                       {{"compute", t.compute},
                        {"embed_sync", t.embed_sync},
                        {"optimizer", t.optimizer},
                        {"data_parallel", t.data_parallel},
                        {"total", t.total}}},
                      {"memory_bytes", memory_to_json(p.memory)},
                      {"speedup", p.speedup}};
  if (p.family == PlanFamily::pipeline) {
    j["schedule"] = to_string(p.schedule);
    j["bubble"] = p.bubble;
  }
  if (p.family == PlanFamily::layer_parallel) j["mgrit"] = prediction_to_json(p.mgrit);
  else j["recompute"] = p.recompute;
  return j;
}

nlohmann::json comparison_to_json(const PlanComparison& c) {
  nlohmann::json j = {{"layers", c.layers}, {"devices", c.devices},
                      {"serial", plan_to_json(c.serial)}};
  j["plans"] = nlohmann::json::array();
  for (const Plan& p : c.best) j["plans"].push_back(plan_to_json(p));
  j["winner"] = c.winner < 0 ? nlohmann::json(nullptr) : nlohmann::json(to_string(c.best[c.winner].family));
  j["best_exact"] =
      c.best_exact < 0 ? nlohmann::json(nullptr) : nlohmann::json(to_string(c.best[c.best_exact].family));
  return j;
}

}  // namespace

void print_plans(const PredictReport& r, std::FILE* out) {
  const ModelShape& s = r.shape;
  std::fprintf(out,
               "profile %s (%.0f GB per device, %d per node); %s global batch %d, T=%d d=%d H=%d "
               "d_ff=%d vocab=%d %s%s\n",
               r.hw.name.c_str(), gb(r.hw.memory_capacity), r.hw.ranks_per_node,
               to_string(s.family), r.global_batch, s.tokens(), s.d, s.heads, s.d_ff, s.vocab,
               s.act_bytes == 2 ? "bf16" : "fp32", s.flash_attention ? " flash" : "");
  std::fprintf(out, "%6s %5s %-14s %-38s %6s %10s %8s %6s %7s %4s\n", "N", "G", "plan",
               "best configuration", "micro", "step_ms", "speedup", "bubble", "mem_GB", "fit");
  for (const auto& c : r.plans) {
    print_plan_row(c, c.serial, true, false, out);
    for (int i = 0; i < int(c.best.size()); ++i) print_plan_row(c, c.best[i], false, i == c.winner, out);
  }
  std::fprintf(out,
               "(D data-parallel groups x P devices each; k micro-batches per group and step; micro: "
               "sequences per micro-batch; speedup over the serial row, one device; mem_GB: the "
               "fullest device)\n");
  print_winner_grid(r, out);
  if (!r.plan_crossovers.empty()) print_plan_crossovers(r, out);
}

nlohmann::json plans_to_json(const PredictReport& r) {
  nlohmann::json j;
  j["profile"] = profile_to_json(r.hw);
  const ModelShape& s = r.shape;
  j["model"] = {{"family", to_string(s.family)}, {"global_batch", r.global_batch},
                {"seq", s.tokens()}, {"d", s.d}, {"heads", s.heads}, {"d_ff", s.d_ff},
                {"vocab", s.vocab}, {"act_bytes", s.act_bytes},
                {"flash_attention", s.flash_attention}};
  j["plans"] = nlohmann::json::array();
  for (const auto& c : r.plans) j["plans"].push_back(comparison_to_json(c));
  j["plan_crossovers"] = nlohmann::json::array();
  for (const auto& x : r.plan_crossovers) {
    nlohmann::json e = {{"devices", x.devices}, {"depth", x.depth}};
    if (x.depth > 0) e["at"] = comparison_to_json(x.at);
    j["plan_crossovers"].push_back(e);
  }
  return j;
}

}  // namespace lpt::perf
