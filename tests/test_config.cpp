// Config: defaults, every error class (unknown key with suggestion, wrong type, impossible value,
// family mismatch, bad --set), overrides, and every shipped example config.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <sstream>

#include "experiments/cli.hpp"
#include "train/config.hpp"
#include "train/config_schema.hpp"
#include "util/error.hpp"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The message of the lpt::Error that resolving `user` with `sets` throws ("" when none).
std::string error_of(const json& user, const std::vector<std::string>& sets = {}) {
  try {
    lpt::resolve_config(user, sets);
  } catch (const lpt::Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(user, ...)                                                   \
  do {                                                                            \
    const std::string msg = error_of(user);                                       \
    EXPECT_FALSE(msg.empty()) << "no error for " << (user).dump();                 \
    for (const std::string part : {__VA_ARGS__}) {                                \
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg; \
    }                                                                             \
  } while (0)

}  // namespace

TEST(Config, DefaultsResolveToTheDocumentedValues) {
  const lpt::RunConfig c = lpt::resolve_config(json::object());
  EXPECT_EQ(c.model.family, lpt::Family::gpt);
  EXPECT_EQ(c.model.layers, 4);
  EXPECT_EQ(c.model.d_ff, 4 * c.model.d_model);  // 0 means 4 d
  EXPECT_EQ(c.resolved["model"]["d_ff"], 4 * c.model.d_model);
  EXPECT_DOUBLE_EQ(c.model.h, 1.0);
  EXPECT_EQ(c.solver.mode, lpt::SolverMode::serial);
  EXPECT_EQ(c.solver.forward.iterations, 2);
  EXPECT_EQ(c.solver.backward.iterations, 1);
  EXPECT_EQ(c.data.name, "english");
  EXPECT_FALSE(c.resolved["model"].contains("T"));
}

// The key table is the one place a key is declared: every row names the field it fills (only the
// step size, made of two keys, is derived), and a key of another family leaves its field at zero.
TEST(Config, EveryKeyFillsItsFieldAndOtherFamiliesStayZero) {
  for (const auto& k : lpt::config_detail::schema()) {
    const bool derived = k.path == "model.step_size" || k.path == "model.T";
    EXPECT_EQ(static_cast<bool>(k.store), !derived) << k.path;
  }
  const lpt::RunConfig c = lpt::resolve_config(json::parse(R"({
    "train": {"schedule": "linear", "optimizer": "sgd", "betas": [0.8, 0.9], "seed": 12345678901},
    "solver": {"adjoint_guess": "previous", "mgrit": {"backward": {"relax": "FCF", "skip": true}}},
    "monitor": {"precision": "float64"},
    "control": {"action": "raise", "raise_order": "both", "cost_ranks": 3}})"));
  EXPECT_EQ(c.train.schedule, lpt::Schedule::linear);
  EXPECT_EQ(c.train.optimizer, lpt::OptimizerKind::sgd);
  EXPECT_EQ(c.train.betas[0], 0.8);
  EXPECT_EQ(c.train.seed, 12345678901u);
  EXPECT_EQ(c.solver.adjoint_guess, lpt::AdjointGuess::previous);
  EXPECT_EQ(c.solver.backward.relax, lpt::Relax::FCF);
  EXPECT_TRUE(c.solver.backward.skip);
  EXPECT_FALSE(c.solver.forward.skip);
  EXPECT_EQ(c.monitor.precision, lpt::MonitorPrecision::float64);
  EXPECT_EQ(c.control.action, lpt::mgrit::ControlAction::raise_iterations);
  EXPECT_EQ(c.control.raise_order, lpt::mgrit::RaiseOrder::both);
  EXPECT_EQ(c.control.cost_ranks, 3);
  // A GPT carries no translation or image sizes (they once defaulted to 3 + 3 layers, which the
  // initialization counted as depth).
  EXPECT_EQ(c.model.enc_layers + c.model.dec_layers + c.model.patch + c.model.n_classes, 0);
  EXPECT_EQ(c.model.channels + c.model.image_h + c.model.image_w, 0);
  const lpt::RunConfig mt = lpt::resolve_config(json::parse(R"({"model": {"family": "mt"}})"));
  EXPECT_EQ(mt.model.layers + mt.model.max_len + mt.model.patch, 0);
  EXPECT_EQ(mt.model.total_layers(), 6);
}

TEST(Config, ResolvedJsonReloadsToTheSameConfig) {
  const lpt::RunConfig a =
      lpt::resolve_config(json::parse(R"({"model": {"family": "vit", "step_size": "T/N",
                                          "T": 2.0, "layers": 8}})"));
  const lpt::RunConfig b = lpt::resolve_config(a.resolved);
  EXPECT_EQ(a.resolved, b.resolved);
  EXPECT_DOUBLE_EQ(b.model.h, 0.25);
  EXPECT_EQ(b.data.name, "fashion_mnist");
}

TEST(Config, UnknownKeySuggestsNearest) {
  EXPECT_ERROR(json::parse(R"({"train": {"lrr": 0.1}})"), "train.lrr", "did you mean train.lr");
  EXPECT_ERROR(json::parse(R"({"model": {"lr": 0.1}})"), "model.lr", "did you mean train.lr");
  EXPECT_ERROR(json::parse(R"({"modle": {}})"), "modle", "did you mean model");
  EXPECT_ERROR(json::parse(R"({"train": {"learning_rate": 0.1}})"), "did you mean train.lr");
  EXPECT_ERROR(json::parse(R"({"model": {"n_head": 2}})"), "did you mean model.heads");
  EXPECT_ERROR(json::parse(R"({"solver": {"mgrit": {"forward": {"cfactr": 4}}}})"),
               "solver.mgrit.forward.cfactr", "did you mean solver.mgrit.forward.cfactor");
}

TEST(Config, WrongTypeNamesPathAndValue) {
  EXPECT_EQ(error_of(json::parse(R"({"train": {"lr": "fast"}})")),
            "train.lr: expected a positive number, got \"fast\"");
  EXPECT_ERROR(json::parse(R"({"model": {"layers": 2.5}})"), "model.layers",
               "expected an integer in [1, 65536]", "2.5");
  EXPECT_ERROR(json::parse(R"({"model": 3})"), "model: expected an object");
  EXPECT_ERROR(json::parse(R"({"train": {"betas": [0.9]}})"), "train.betas",
               "an array of 2 numbers in [0, 1)");
  EXPECT_ERROR(json::parse(R"({"model": {"family": "rnn"}})"), "model.family",
               R"(one of "gpt", "bert", "vit", "mt")");
  EXPECT_ERROR(json::parse("[1, 2]"), "expected a JSON object");
}

TEST(Config, ImpossibleValuesRejected) {
  EXPECT_ERROR(json::parse(R"({"model": {"layers": 0}})"), "model.layers", "got 0");
  EXPECT_ERROR(json::parse(R"({"model": {"d_model": 100, "heads": 3}})"), "model.heads",
               "must divide model.d_model");
  EXPECT_ERROR(json::parse(R"({"model": {"dropout": 1.0}})"), "model.dropout", "[0, 1)");
  EXPECT_ERROR(json::parse(R"({"model": {"seq_len": 0}})"), "model.seq_len");
  EXPECT_ERROR(json::parse(R"({"model": {"step_size": -1}})"), "model.step_size");
  EXPECT_ERROR(json::parse(R"({"model": {"step_size": "1/M"}})"), "model.step_size");
  EXPECT_ERROR(json::parse(R"({"train": {"min_lr": 0.1, "lr": 0.01}})"), "train.min_lr");
  EXPECT_ERROR(json::parse(R"({"train": {"batch": 6, "data_groups": 4}})"), "multiple of 4");
  EXPECT_ERROR(json::parse(R"({"data": {"val_fraction": 1}})"), "data.val_fraction");
  EXPECT_ERROR(json::parse(R"({"model": {"family": "vit", "patch": 5}})"), "model.patch");
  EXPECT_ERROR(json::parse(R"({"model": {"family": "vit"}, "data": {"name": "digits"}})"),
               "model.image", "[1, 8, 8]");
  EXPECT_ERROR(json::parse(R"({"model": {"family": "mt"}, "data": {"name": "english"}})"),
               "data.name", "en_es");
  EXPECT_ERROR(json::parse(R"({"solver": {"mgrit": {"backward": {"levels": 0}}}})"),
               "solver.mgrit.backward.levels");
  EXPECT_ERROR(json::parse(R"({"solver": {"mgrit": {"forward": {"cfactor": 1}}}})"),
               "solver.mgrit.forward.cfactor", "in [2, 65536]");
  EXPECT_ERROR(json::parse(R"({"solver": {"mgrit": {"forward": {"relax": "FF"}}}})"),
               "solver.mgrit.forward.relax", R"("F", "FCF")");
}

TEST(Config, KeysOfAnotherFamilyRejected) {
  EXPECT_ERROR(json::parse(R"({"model": {"family": "mt", "layers": 6}})"), "model.layers",
               "not used by model.family \"mt\"", "use model.enc_layers");
  EXPECT_ERROR(json::parse(R"({"model": {"src_len": 6}})"), "model.src_len", "use model.seq_len");
  EXPECT_ERROR(json::parse(R"({"model": {"patch": 4}})"), "model.patch", "vit");
  EXPECT_ERROR(json::parse(R"({"model": {"T": 2}})"), "model.T", "T/N");
}

TEST(Config, SolverModesAndControlKeys) {
  const lpt::RunConfig c = lpt::resolve_config(json::parse(
      R"({"solver": {"mode": "adaptive", "threads": 2},
          "monitor": {"every": 10, "batches": 3},
          "control": {"eta": 0.25, "patience": 2, "action": "serial"}})"));
  EXPECT_EQ(c.solver.mode, lpt::SolverMode::adaptive);
  EXPECT_EQ(c.solver.threads, 2);
  EXPECT_EQ(c.monitor.every, 10);
  EXPECT_EQ(c.monitor.batches, 3);
  EXPECT_DOUBLE_EQ(c.control.eta, 0.25);
  EXPECT_EQ(c.control.patience, 2);
  EXPECT_EQ(c.control.action, lpt::mgrit::ControlAction::serial);
  EXPECT_ERROR((json{{"control", {{"eta", 1.0}}}}), "control.eta", "(0, 1)");
  EXPECT_ERROR((json{{"solver", {{"mode", "adaptive"}}}, {"monitor", {{"every", 0}}}}),
               "monitor.every", "adaptive");
  EXPECT_ERROR((json{{"solver", {{"mode", "parallel"}, {"mgrit", {{"forward", {{"iterations", 9}}}}}}}}),
               "control.max_forward_iterations", "raise the cap");
}

TEST(Config, BpeTokenizerIsForTranslationWithASensibleSize) {
  const lpt::RunConfig c = lpt::resolve_config(json::parse(
      R"({"model": {"family": "mt"}, "data": {"tokenizer": "bpe", "bpe_vocab": 3000}})"));
  EXPECT_EQ(c.data.tokenizer, "bpe");
  EXPECT_EQ(c.data.bpe_vocab, 3000);
  EXPECT_ERROR(
      json::parse(R"({"model": {"family": "mt"}, "data": {"tokenizer": "bpe", "bpe_vocab": 3}})"),
      "data.bpe_vocab", "[16, 16777216]");
  EXPECT_ERROR(json::parse(R"({"model": {"family": "mt"}, "data": {"bpe_vocab": 2.5}})"),
               "data.bpe_vocab");
  EXPECT_ERROR(json::parse(R"({"data": {"tokenizer": "bpe"}})"), "data.tokenizer",
               "translation", "\"byte\" or \"char\"");
  EXPECT_ERROR(json::parse(R"({"data": {"bpe_vocab": 500}})"), "data.bpe_vocab", "mt");
  EXPECT_ERROR(json::parse(R"({"data": {"tokenizer": "word"}})"), "data.tokenizer", R"("bpe")");
}

TEST(Config, TranslationBoundaryMustBeACoarsePoint) {
  // 3 + 3 layers, cfactor 2 on two levels: the coarse step [2, 4) straddles layer 3.
  EXPECT_ERROR((json{{"model", {{"family", "mt"}}},
                     {"solver", {{"mode", "parallel"}, {"mgrit", {{"forward", {{"cfactor", 2}}}}}}}}),
               "solver.mgrit.forward", "encoder/decoder boundary");
  // 4 + 4 with cfactor 2 on 3 levels: stride 4 divides 4.
  EXPECT_NO_THROW(lpt::resolve_config(json::parse(
      R"({"model": {"family": "mt", "enc_layers": 4, "dec_layers": 4},
          "solver": {"mode": "parallel", "mgrit": {"forward": {"cfactor": 2, "levels": 3},
                                                   "backward": {"cfactor": 4, "levels": 2}}}})")));
  // serial_forward checks only the backward grid.
  EXPECT_ERROR((json{{"model", {{"family", "mt"}}},
                     {"solver", {{"mode", "serial_forward"}}}}),
               "solver.mgrit.backward", "multiple of 4");
}

TEST(Config, SetOverridesParseJsonThenString) {
  const lpt::RunConfig c = lpt::resolve_config(
      json::parse(R"({"train": {"lr": 0.5}})"),
      {"train.lr=1e-3", "model.step_size=T/N", "model.T=2", "output.file=123",
       "train.betas=[0.8,0.9]", "model.family=bert", "solver.mgrit.forward={\"levels\": 3}"});
  EXPECT_DOUBLE_EQ(c.train.lr, 1e-3);
  EXPECT_DOUBLE_EQ(c.model.h, 0.5);  // T / N = 2 / 4
  EXPECT_EQ(c.output.file, "123");
  EXPECT_DOUBLE_EQ(c.train.betas[0], 0.8);
  EXPECT_EQ(c.model.family, lpt::Family::bert);
  EXPECT_EQ(c.solver.forward.levels, 3);
  EXPECT_EQ(c.solver.forward.cfactor, 4);
}

TEST(Config, BadSetRejected) {
  EXPECT_NE(error_of(json::object(), {"train.lrr=1"}).find("did you mean train.lr"),
            std::string::npos);
  EXPECT_NE(error_of(json::object(), {"train.lr"}).find("expected key=value"), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"model": 3})"), {"model.layers=2"}).find("model.layers"),
            std::string::npos);
  EXPECT_EQ(error_of(json::object(), {"train.lr=fast"}),
            "train.lr: expected a positive number, got \"fast\"");
}

// --config and --set as every command with a run config reads them (experiments/cli.hpp).
TEST(Config, ArgsGiveConfigAndSets) {
  auto parsed = [](const std::vector<std::string>& args) {
    CLI::App app("test", "lpt test");
    lpt::cli::Options o(app);
    lpt::cli::ConfigOptions c;
    lpt::cli::add_config_options(o, c);
    lpt::cli::parse(app, args);
    return c;
  };
  const lpt::cli::ConfigOptions a =
      parsed({"--config", "x.json", "--set", "train.lr=1", "--set=train.steps=5"});
  EXPECT_EQ(a.file, "x.json");
  EXPECT_EQ(a.sets, (std::vector<std::string>{"train.lr=1", "train.steps=5"}));
  EXPECT_EQ(parsed({"--config=y.json"}).file, "y.json");
  EXPECT_THROW(parsed({"--set"}), lpt::Error);
  EXPECT_THROW(parsed({"--bogus"}), lpt::Error);
  EXPECT_THROW(parsed({"--set", "a=1", "b=2"}), lpt::Error);
  EXPECT_THROW(parsed({"--config", "a.json", "--config", "b.json"}), lpt::Error);
  EXPECT_EQ(lpt::config_from("", {"train.steps=7"}).train.steps, 7);
}

TEST(Config, FileErrorsNameTheFile) {
  const fs::path p = fs::temp_directory_path() / ("lpt_cfg_" + std::to_string(::getpid()));
  std::ofstream(p) << "{ \"train\": { \"lr\": 1e-3, } ";
  try {
    lpt::load_config(p.string());
    FAIL() << "bad JSON accepted";
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
  }
  std::ofstream(p) << R"({"train": {"lr": -1}})";
  try {
    lpt::load_config(p.string());
    FAIL() << "negative lr accepted";
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.lr"), std::string::npos) << e.what();
  }
  fs::remove(p);
  EXPECT_THROW(lpt::load_config(p.string()), lpt::Error);
}

TEST(Config, EveryExampleConfigIsValid) {
  const fs::path dir = fs::path(LPT_SOURCE_DIR) / "experiments" / "configs";
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(lpt::load_config(entry.path().string()));
    ++n;
  }
  EXPECT_GE(n, 6);
  const lpt::RunConfig mt = lpt::load_config((dir / "mt.json").string());
  EXPECT_EQ(mt.model.total_layers(), 12);
  const lpt::RunConfig digits = lpt::load_config((dir / "vit_digits.json").string());
  EXPECT_DOUBLE_EQ(digits.model.h, 1.0 / 16);
}

TEST(Config, DefaultsFileMatchesTheBuiltInDefaults) {
  std::ifstream in(fs::path(LPT_SOURCE_DIR) / "experiments" / "configs" / "defaults.json");
  EXPECT_EQ(json::parse(in), lpt::resolve_config(json::object()).resolved)
      << "regenerate experiments/configs/defaults.json from resolve_config({}).resolved";
}

TEST(Config, EveryKeyIsDocumented) {
  std::ifstream in(fs::path(LPT_SOURCE_DIR) / "docs" / "config.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  for (const auto& k : lpt::config_detail::schema()) {
    EXPECT_NE(doc.find("`" + k.path + "`"), std::string::npos) << k.path << " not in docs/config.md";
  }
}
