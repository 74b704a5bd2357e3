// `lpt predict`: layer-parallel step time and speedup on a hardware profile. The options fill
// perf::PredictOptions (perfmodel/predict.hpp), whose fields hold the defaults.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "experiments/command.hpp"
#include "perfmodel/mgrit_cost.hpp"
#include "perfmodel/predict.hpp"
#include "train/config.hpp"
#include "train/cost_oracle.hpp"
#include "train/task.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

struct PredictArgs {
  perf::PredictOptions o;
  std::string family = to_string(o.shape.family);
  std::string precision = o.shape.act_bytes == 2 ? "bf16" : "fp32";
  std::string serial = o.serial_mode == perf::SerialMode::store_tapes ? "store"
                       : o.serial_mode == perf::SerialMode::recompute ? "recompute"
                                                                      : "auto";
  std::string config;  // a run config: shape and MGRIT cycle as `lpt train` would run them
  std::vector<std::string> sets;
};

// Options that a run config decides: given with --config they would contradict it.
const char* const kConfigDecides[] = {
    "--family", "--batch",   "--seq",      "--d",          "--heads",       "--dff",
    "--enc-layers", "--src-seq", "--image", "--patch",     "--channels",    "--classes",
    "--precision", "--flash", "--levels",  "--cfactors",   "--no-search",   "--fwd-iters",
    "--bwd-iters", "--relax", "--convergence", "--store-tapes"};

// The shape's sizes: integers in [0, 2^24] (0 where a size does not apply to the family).
constexpr long long kMaxSize = 1LL << 24;

void declare(cli::Options& c, PredictArgs& a) {
  perf::PredictOptions& o = a.o;
  perf::ModelShape& s = o.shape;
  c.app().description(
      "Predicts the time of one training step, layer-parallel (MGRIT over layers) on P ranks\n"
      "against serial on one rank, from the model shape and a hardware profile; searches the\n"
      "best (levels, cfactor) per (N, P). Formulas: docs/perfmodel.md.");
  c.text("--config", a.config, "FILE",
         "a run config (docs/config.md): predict the model and the MGRIT cycles `lpt train` runs "
         "from it (both solves' levels, cfactor, relaxation, skip and iterations), at its depth "
         "unless --layers is given; shape and grid options are then refused",
         "none: the shape and grid options");
  c.repeated("--set", a.sets, "KEY=VALUE", "override one key of --config (repeatable)");
  c.text("--profile,--hardware", o.profile, "NAME|PATH",
         "perfmodel/profiles/NAME.json or a file, e.g. a calibrated profile (--hardware is the "
         "same option)");
  c.choice("--family", a.family, {"gpt", "bert", "vit", "mt"}, "model family (mt: translation)");
  c.integer("--batch", s.batch, 0, kMaxSize, "micro-batch per replica");
  c.integer("--seq", s.seq, 0, kMaxSize, "tokens (translation: target length)");
  c.integer("--d", s.d, 0, kMaxSize, "model width");
  c.integer("--heads", s.heads, 0, kMaxSize, "attention heads");
  c.integer("--dff", s.d_ff, 0, kMaxSize, "MLP width");
  c.integer("--vocab", s.vocab, 0, kMaxSize, "vocabulary");
  c.integer("--enc-layers", s.enc_layers, 0, kMaxSize, "translation: encoder steps",
            "half the layers");
  c.integer("--src-seq", s.src_seq, 0, kMaxSize, "translation: source length");
  c.integer("--image", s.image, 0, kMaxSize, "ViT: image side");
  c.integer("--patch", s.patch, 0, kMaxSize, "ViT: patch side");
  c.integer("--channels", s.channels, 0, kMaxSize, "ViT: image channels");
  c.integer("--classes", s.classes, 0, kMaxSize, "ViT: classes");
  c.choice("--precision", a.precision, {"bf16", "fp32"}, "activation / message precision");
  c.flag("--flash", s.flash_attention, "fused attention (no T x T tensor)");
  c.integer_list("--layers", o.layers, 1, 1 << 20, "depths");
  c.integer_list("--ranks", o.ranks, 1, 1 << 20, "layer-parallel ranks");
  c.integer_list("--levels", o.grid.levels, 1, 64, "grid of levels");
  c.integer_list("--cfactors", o.grid.cfactors, 2, 1 << 20, "grid of coarsening factors");
  c.flag("--no-search", o.search, "use only the first --levels and --cfactors value", false);
  c.integer("--fwd-iters", o.grid.fwd_iters, 0, kMaxSize, "fixed forward iteration count");
  c.integer("--bwd-iters", o.grid.bwd_iters, 0, kMaxSize, "fixed adjoint iteration count");
  c.text("--convergence", o.convergence, "FILE",
         "iterations from measured convergence factors and a tolerance");
  c.custom("--relax", "F|FCF,...", "relaxation per level", "F on the finest, FCF coarser",
           [&o](const std::string& v) {
             o.grid.relax.clear();
             std::stringstream ss(v);
             std::string item;
             while (std::getline(ss, item, ',')) {
               if (item == "F") o.grid.relax.push_back(perf::Relax::F);
               else if (item == "FCF") o.grid.relax.push_back(perf::Relax::FCF);
               else fail("option --relax expects F or FCF per level, got '", item, "'");
             }
             require(!o.grid.relax.empty() && v.back() != ',',
                     "option --relax expects F or FCF per level, separated by commas, got '", v,
                     "'");
           });
  c.flag("--store-tapes", o.grid.store_tapes,
         "adjoint reuses forward tapes instead of recomputing the forward");
  c.flag("--require-fit", o.grid.require_fit,
         "skip settings whose memory per rank exceeds the profile's");
  c.integer("--replicas", o.replicas, 0, kMaxSize,
            "data-parallel copies of the layer-parallel group");
  c.choice("--serial", a.serial, {"store", "recompute", "auto"},
           "activations of the serial reference (store: all tapes kept, memory ignored; auto: "
           "checkpoint when that fits)");
  c.text("--measured", o.measured, "FILE", "measured per-layer times replace the FLOP-derived "
         "ones (lpt calibrate --out); with --plans a comma-separated list, one file per "
         "micro-batch size, and only calibrated sizes are tried");
  c.flag("--no-crossover", o.crossover, "skip the search for the depth where layer-parallel wins",
         false);
  c.flag("--simulate", o.simulate,
         "replay each best setting with the schedule simulator (the solver's own cycle on P "
         "virtual ranks): sim_ms, sim/model columns");
  c.text("--json", o.json_out, "FILE", "write the table as JSON (for analysis/plot_speedup.py)");
  c.flag("--plans", o.plans,
         "compare plans on G = each --ranks value devices: data-parallel, pipeline (1F1B, GPipe), "
         "layer-parallel and their D x P products, for the global batch; names the fastest that "
         "fits and the depth from which layer-parallel wins (docs/perfmodel.md section 7)");
  c.integer("--global-batch", o.global_batch, 1, kMaxSize,
            "--plans: sequences per optimizer step, split over data-parallel groups and "
            "micro-batches (replaces --batch)");
  c.integer_list("--micro-batches", o.micro_batches, 1, kMaxSize,
                 "--plans: micro-batch counts k to try per group (those dividing its batch)",
                 "every divisor of the group's batch");
}

bool given(const CLI::App& app, const char* name) {
  const CLI::Option* opt = app.get_option_no_throw(name);
  return opt != nullptr && opt->count() > 0;
}

// The vocabulary the run would have: --vocab, model.vocab, or the tokenizer's, which for the
// char tokenizer and translation only the data know (so the task is built, as `lpt train` would).
int config_vocab(const RunConfig& cfg, int asked) {
  if (asked > 0) return asked;
  if (cfg.model.family == Family::vit) return 0;
  if (cfg.model.vocab > 0) return cfg.model.vocab;
  try {
    const ModelConfig& m = make_task(cfg)->model().config();
    return cfg.model.family == Family::mt ? std::max(m.src_vocab, m.tgt_vocab) : m.vocab;
  } catch (const Error& e) {
    fail(e.what(), "; or give the vocabulary with --vocab (or --set model.vocab=V)");
  }
}

// Fills the shape and the one MGRIT setting from the run config, converted as the controller's
// cost oracle converts it (train/cost_oracle.hpp), so the prediction prices the trained cycle.
void from_config(PredictArgs& a, const CLI::App& app) {
  perf::PredictOptions& o = a.o;
  require(!o.plans, "--plans prices a model from the shape options and a global batch, not a run "
          "config; drop --config (give --d, --heads, ... and --global-batch)");
  for (const char* name : kConfigDecides)
    require(!given(app, name), "option ", name, " contradicts --config: the run config decides "
            "the model's shape and the MGRIT cycle; change it with --set (docs/config.md)");
  const RunConfig cfg = config_from(a.config, a.sets);
  o.shape = perf_shape(cfg, config_vocab(cfg, given(app, "--vocab") ? o.shape.vocab : 0));
  o.grid.fixed = trainer_settings(cfg);
  o.search = false;
  if (!given(app, "--layers")) o.layers = {cfg.model.total_layers()};
  if (!given(app, "--profile") && !cfg.control.cost_model.empty()) o.profile = cfg.control.cost_model;
  if (!given(app, "--ranks")) {
    // The controller's rank count, or every power of two the solver can use at this depth (a
    // rank needs at least one fine interval).
    o.ranks.clear();
    if (cfg.control.cost_ranks > 0) {
      o.ranks.push_back(cfg.control.cost_ranks);
    } else {
      int most = 1;
      for (int N : o.layers)
        if (perf::hierarchy_problem(N, *o.grid.fixed).empty())
          most = std::max(most, perf::max_ranks(N, *o.grid.fixed));
      for (int P = 2; P <= most; P *= 2) o.ranks.push_back(P);
      if (o.ranks.empty()) o.ranks.push_back(1);
    }
  }
}

int run_predict(PredictArgs& a, const CLI::App& app) {
  perf::PredictOptions& o = a.o;
  o.shape.family = parse_family(a.family);
  o.shape.act_bytes = a.precision == "bf16" ? 2 : 4;
  if (!a.config.empty() || !a.sets.empty()) from_config(a, app);
  o.serial_mode = a.serial == "store"       ? perf::SerialMode::store_tapes
                  : a.serial == "recompute" ? perf::SerialMode::recompute
                                            : perf::SerialMode::automatic;
  for (const char* name : {"--global-batch", "--micro-batches"})
    require(o.plans || !given(app, name), "option ", name, " applies to --plans only; add --plans");
  require(!o.plans || !given(app, "--batch"), "--plans splits --global-batch into micro-batches "
          "itself; drop --batch");
  const perf::PredictReport r = perf::run_prediction(o);
  perf::print_report(r, stdout);
  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out);
    require(out.good(), "cannot write '", o.json_out, "'; check the directory exists and is "
            "writable");
    out << perf::report_to_json(r).dump(1) << "\n";
  }
  return 0;
}

}  // namespace

LPT_COMMAND("predict", "predict layer-parallel speedup for depths and machines (perf model)",
            [](cli::Options& o) -> CommandRun {
              auto a = std::make_shared<PredictArgs>();
              declare(o, *a);
              // The app outlives the run (experiments/main.cpp): read which options were given.
              const CLI::App* app = &o.app();
              return [a, app] { return run_predict(*a, *app); };
            });

}  // namespace lpt
