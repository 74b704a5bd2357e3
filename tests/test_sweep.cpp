// `lpt sweep` (sweep/): the spec's expansion and names, the check of a point's record, and the
// runner end to end with the real lpt executable on a tiny GPT: a failing point is isolated, a
// rerun skips finished points and redoes partial ones, a killed sweep resumes, and the summary's
// rows equal the records they come from (read here with the tests' own HDF5 reader).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "data_fixture.hpp"
#include "record_fixture.hpp"
#include "sweep/runner.hpp"
#include "sweep/spec.hpp"
#include "sweep/summary.hpp"
#include "train/record_lock.hpp"
#include "util/error.hpp"
#include "util/h5record.hpp"

namespace {

using json = nlohmann::json;
using lpt::test::read_series;

std::vector<std::string> names(const std::vector<lpt::SweepPoint>& ps) {
  std::vector<std::string> n;
  for (const auto& p : ps) n.push_back(p.name);
  return n;
}

std::string error_of(const std::string& spec) {
  try {
    lpt::expand_sweep(lpt::parse_sweep_spec(spec, "s.json"));
  } catch (const lpt::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SweepSpec, GridIsTheProductWithTheFirstKeyOutermost) {
  const auto s = lpt::parse_sweep_spec(
      R"({"axes": [{"grid": {"model.layers": [2, 4], "train.lr": [0.001, 0.003, 0.01]}}]})", "");
  const auto ps = lpt::expand_sweep(s);
  EXPECT_EQ(names(ps), (std::vector<std::string>{
                           "layers=2_lr=0.001", "layers=2_lr=0.003", "layers=2_lr=0.01",
                           "layers=4_lr=0.001", "layers=4_lr=0.003", "layers=4_lr=0.01"}));
  EXPECT_EQ(ps[4].values[0].first, "model.layers");
  EXPECT_EQ(ps[4].values[1].second, json(0.003));
  EXPECT_EQ(lpt::sweep_axis_keys(s), (std::vector<std::string>{"model.layers", "train.lr"}));
}

TEST(SweepSpec, ZipPairsTheListsAndBlocksMultiply) {
  // zip x grid(seed) x points: 2 x 2 x 2 points, first block outermost; a points entry that leaves
  // a key out keeps the base's value and has no such part in its name.
  const auto s = lpt::parse_sweep_spec(R"({
    "axes": [{"zip": {"solver.mode": ["serial", "parallel"], "monitor.every": [0, 10]}},
             {"points": [{"model.d_model": 32, "model.heads": 2}, {"model.d_model": 64}]},
             {"grid": {"train.seed": [1, 2]}}],
    "names": {"solver.mode": "mode"}})", "");
  const auto ps = lpt::expand_sweep(s);
  ASSERT_EQ(ps.size(), 8u);
  EXPECT_EQ(ps[0].name, "mode=serial_every=0_d_model=32_heads=2_seed=1");
  EXPECT_EQ(ps[3].name, "mode=serial_every=0_d_model=64_seed=2");
  EXPECT_EQ(ps[4].name, "mode=parallel_every=10_d_model=32_heads=2_seed=1");
  EXPECT_EQ(ps[3].values.size(), 4u);  // no model.heads
  EXPECT_EQ(error_of(R"({"axes": [{"zip": {"train.lr": [1, 2], "train.seed": [1, 2, 3]}}]})")
                .find("must be equally long") != std::string::npos,
            true);
}

TEST(SweepSpec, NamesTellApartKeysWithTheSameLastPart) {
  const auto s = lpt::parse_sweep_spec(R"({"axes": [{"grid": {
      "solver.mgrit.forward.iterations": [1, 2], "solver.mgrit.backward.iterations": [1],
      "model.step_size": ["T/N"]}}]})", "");
  const auto ps = lpt::expand_sweep(s);
  EXPECT_EQ(ps[1].name, "forward.iterations=2_backward.iterations=1_step_size=T-N");
  // No axes: one point, the base itself.
  EXPECT_EQ(names(lpt::expand_sweep(lpt::parse_sweep_spec("{}", ""))),
            std::vector<std::string>{"base"});
}

TEST(SweepSpec, MistakesAreErrorsNamingThem) {
  EXPECT_NE(error_of(R"({"axes": [{"cube": {}}]})").find("unknown block 'cube'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"axes": [{"grid": {"output.file": ["a", "b"]}}]})")
                .find("cannot be an axis"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"axes": [{"grid": {"train.lr": [1]}}, {"zip": {"train.lr": [2]}}]})")
                .find("appears in two blocks"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"axes": [{"grid": {"train.lr": []}}]})").find("non-empty list"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"axis": []})").find("unknown key 'axis'"), std::string::npos);
  // Two values that make the same file name.
  EXPECT_NE(error_of(R"({"axes": [{"grid": {"data.dir": ["a/b", "a_b"]}}]})")
                .find("get the same name 'dir=a-b'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"axes": [{"grid": {"train.lr": [1]}}], "set": {"train.lr": 2}})")
                .find("both in set and an axis"),
            std::string::npos);
}

TEST(SweepSpec, PointConfigsAreResolvedAsLptTrainWould) {
  const auto s = lpt::parse_sweep_spec(R"({"set": {"train.steps": 7},
      "axes": [{"points": [{"solver.mode": "adaptive", "model.step_size": "T/N", "train.lr": 0.003},
                           {"train.lrr": 1}]}]})", "");
  const auto ps = lpt::expand_sweep(s);
  const lpt::RunConfig c = lpt::resolve_point(s, ps[0], "/tmp/d");
  EXPECT_EQ(c.solver.mode, lpt::SolverMode::adaptive);
  EXPECT_EQ(c.resolved["model"]["step_size"], "T/N");
  EXPECT_DOUBLE_EQ(c.train.lr, 0.003);
  EXPECT_EQ(c.train.steps, 7);
  EXPECT_EQ(c.output.file, "/tmp/d/" + ps[0].name + ".h5");
  EXPECT_EQ(c.output.checkpoint, "");
  try {
    lpt::resolve_point(s, ps[1], "/tmp/d");
    FAIL() << "no error for an unknown key";
  } catch (const lpt::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("sweep point lrr=1"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean train.lr"), std::string::npos) << m;
  }
}

// Runs the rest of a test from the source root (as docs/sweep.md and run.sh run specs), and goes
// back to where the test started when it ends.
struct InSourceRoot {
  std::filesystem::path was = std::filesystem::current_path();
  InSourceRoot() { std::filesystem::current_path(LPT_SOURCE_DIR); }
  ~InSourceRoot() { std::filesystem::current_path(was); }
};

// The paper's recipes (experiments/paper/*.json) as written, with their paths; read from the
// source root (an InSourceRoot must be alive).
std::vector<std::pair<std::filesystem::path, json>> paper_recipes() {
  std::vector<std::pair<std::filesystem::path, json>> out;
  for (const auto& e : std::filesystem::directory_iterator("experiments/paper")) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    out.emplace_back(e.path(), json::parse(in, nullptr, true, /*ignore_comments=*/true));
  }
  return out;
}

// The specs under experiments/sweeps/ expand and every point resolves, from the source root as
// docs/sweep.md says to run them; a base that checkpoints gives each point its own checkpoint
// unless the spec turns them off.
TEST(SweepSpec, ExampleSpecsResolveAndCheckpointsArePerPoint) {
  InSourceRoot here;
  int specs = 0;
  for (const auto& e : std::filesystem::directory_iterator("experiments/sweeps")) {
    if (e.path().extension() != ".json") continue;
    const lpt::SweepSpec s = lpt::load_sweep_spec(e.path().string());
    const auto ps = lpt::expand_sweep(s);
    EXPECT_GE(ps.size(), 2u) << e.path();
    for (const auto& p : ps) {
      const lpt::RunConfig c = lpt::resolve_point(s, p, s.out);
      EXPECT_EQ(c.output.file, s.out + "/" + p.name + ".h5");
    }
    ++specs;
  }
  EXPECT_GE(specs, 2);
  // gpt_default.json checkpoints: each point then writes its own, or none when set says "".
  auto s = lpt::parse_sweep_spec(R"({"base": "experiments/configs/gpt_default.json",
      "axes": [{"grid": {"train.seed": [1, 2]}}]})", "");
  const auto ps = lpt::expand_sweep(s);
  EXPECT_EQ(lpt::resolve_point(s, ps[1], "d").output.checkpoint, "d/seed=2.ckpt.h5");
  s = lpt::parse_sweep_spec(R"({"base": "experiments/configs/gpt_default.json",
      "set": {"output.checkpoint": ""}, "axes": [{"grid": {"train.seed": [1, 2]}}]})", "");
  EXPECT_EQ(lpt::resolve_point(s, ps[1], "d").output.checkpoint, "");
  EXPECT_NE(error_of(R"({"set": {"output.checkpoint": "x.h5"}})").find("cannot be an axis or a set"),
            std::string::npos);
}

// "sizes": one recipe at several scales. --size NAME merges the size's set into the spec's (its
// keys win), replaces the other keys it gives, and puts the size under the output directory so
// that two sizes never share one; a spec with sizes needs a size, one without refuses one.
TEST(SweepSpec, SizesLayOverTheSpec) {
  const std::string spec = R"({"set": {"train.steps": 100, "train.lr": 0.001}, "out": "o",
      "axes": [{"grid": {"train.seed": [1, 2, 3]}}],
      "sizes": {"quick": {"set": {"train.steps": 10}, "axes": [{"grid": {"train.seed": [1]}}]},
                "full": {"out": "elsewhere", "jobs": 4}}})";
  const auto q = lpt::parse_sweep_spec(spec, "s.json", "quick");
  EXPECT_EQ(q.size, "quick");
  EXPECT_EQ(q.out, "o/quick");
  ASSERT_EQ(q.set.size(), 2u);
  EXPECT_EQ(q.set[0].first, "train.steps");
  EXPECT_EQ(q.set[0].second, 10);
  EXPECT_EQ(q.set[1].second, 0.001);
  EXPECT_EQ(names(lpt::expand_sweep(q)), (std::vector<std::string>{"seed=1"}));
  const auto f = lpt::parse_sweep_spec(spec, "s.json", "full");
  EXPECT_EQ(f.out, "elsewhere");
  EXPECT_EQ(f.jobs, 4);
  EXPECT_EQ(f.set[0].second, 100);
  EXPECT_EQ(lpt::expand_sweep(f).size(), 3u);
  auto err = [&](const std::string& text, const std::string& size) {
    try {
      lpt::parse_sweep_spec(text, "s.json", size);
    } catch (const lpt::Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(err(spec, "").find("has sizes (quick, full); pick one with --size"), std::string::npos);
  EXPECT_NE(err(spec, "huge").find("no size 'huge'; the spec has quick, full"), std::string::npos);
  EXPECT_NE(err("{}", "quick").find("has no \"sizes\""), std::string::npos);
  EXPECT_NE(err(R"({"sizes": {"q": {"names": {}}}})", "q").find("unknown key 'names'"),
            std::string::npos);
  // A size may not put an axis key into set (the usual check runs on the merged spec).
  EXPECT_NE(err(R"({"axes": [{"grid": {"train.seed": [1, 2]}}],
      "sizes": {"q": {"set": {"train.seed": 3}}}})", "q").find("both in set and an axis"),
            std::string::npos);
}

// Every recipe of experiments/paper/ expands in each of its sizes and every point resolves as
// `lpt train` will resolve it, from the source root where run.sh runs them.
TEST(SweepSpec, PaperRecipesResolveInEverySize) {
  InSourceRoot here;
  const auto recipes = paper_recipes();
  for (const auto& [file, raw] : recipes) {
    ASSERT_TRUE(raw.contains("sizes")) << file << ": a paper recipe has quick and full sizes";
    for (const char* size : {"quick", "full"})
      ASSERT_TRUE(raw["sizes"].contains(size)) << file << " lacks size " << size;
    for (const auto& [size, overlay] : raw["sizes"].items()) {  // and any extra ones
      const lpt::SweepSpec s = lpt::load_sweep_spec(file.string(), size);
      const auto ps = lpt::expand_sweep(s);
      EXPECT_GE(ps.size(), 2u) << file << " " << size;
      for (const auto& p : ps) EXPECT_NO_THROW(lpt::resolve_point(s, p, s.out)) << p.name;
    }
  }
  EXPECT_GE(recipes.size(), 4u);
}

// A recipe that starts from another recipe's checkpoint (F3/F4 replays, F7 fine-tuning) names a
// file that recipe writes at the same size: a point of that name exists there, and a
// ".stepN" checkpoint is one it keeps. Trimming an axis in one spec and not in its reader would
// otherwise surface only as a missing file half an hour into run.sh.
TEST(SweepSpec, PaperRecipesStartFromCheckpointsTheirProducersWrite) {
  InSourceRoot here;
  const std::regex path(R"(runs/paper/(\w+)/(\w+)/(.+)\.ckpt(\.step(\d+))?\.h5)");
  int links = 0;
  for (const auto& [file, raw] : paper_recipes()) {
    for (const auto& [size, overlay] : raw["sizes"].items()) {
      const lpt::SweepSpec s = lpt::load_sweep_spec(file.string(), size);
      for (const auto& p : lpt::expand_sweep(s)) {
        const lpt::RunConfig c = lpt::resolve_point(s, p, s.out);
        const std::string& from = c.train.init_from;
        if (from.empty()) continue;
        std::smatch m;
        ASSERT_TRUE(std::regex_match(from, m, path))
            << file << " " << p.name << ": init_from " << from << " is not a recipe's checkpoint";
        EXPECT_EQ(m[2].str(), size) << file << " " << p.name << " reads another size: " << from;
        const lpt::SweepSpec producer =
            lpt::load_sweep_spec("experiments/paper/" + m[1].str() + ".json", m[2].str());
        const auto made = lpt::expand_sweep(producer);
        const auto it = std::find_if(made.begin(), made.end(),
                                     [&](const lpt::SweepPoint& q) { return q.name == m[3].str(); });
        ASSERT_NE(it, made.end()) << file << " " << p.name << " reads " << from << ", which "
                                  << m[1] << " (" << m[2] << ") has no point to write";
        const lpt::RunConfig pc = lpt::resolve_point(producer, *it, producer.out);
        EXPECT_EQ(pc.output.checkpoint, "runs/paper/" + m[1].str() + "/" + m[2].str() + "/" +
                                            m[3].str() + ".ckpt.h5")
            << from << ": its producer writes its checkpoint elsewhere, or none";
        if (m[4].matched) {
          const long step = std::stol(m[5].str());
          EXPECT_TRUE(pc.output.keep_checkpoints) << from << ": its producer keeps no step checkpoints";
          EXPECT_LE(step, pc.train.steps) << from;
          if (pc.output.checkpoint_every > 0)
            EXPECT_EQ(step % pc.output.checkpoint_every, 0) << from << ": not a checkpoint step";
        }
        ++links;
      }
    }
  }
  EXPECT_GE(links, 20);
}

// --mpi P: layer-parallel points under mpirun with the flags this machine needs, serial points as
// one process; the base config and every --set in order, the record last.
TEST(SweepSpec, PointCommandLines) {
  lpt::test::TempDir tmp("lpt_sweep_cmd");
  const std::string base = tmp.path + "/b.json";
  lpt::test::write_file(base, "{}");
  const auto s = lpt::parse_sweep_spec(R"({"base": ")" + base + R"(", "set": {"train.steps": 5},
      "axes": [{"grid": {"solver.mode": ["serial", "parallel"]}}]})", "");
  const auto ps = lpt::expand_sweep(s);
  lpt::SweepOptions o;
  o.out_dir = "d";
  o.lpt = "/x/lpt";
  o.jobs = 2;
  o.mpi = 3;
  const auto serial = lpt::point_command(s, ps[0], o, true);
  const auto parallel = lpt::point_command(s, ps[1], o, false);
  EXPECT_EQ(serial, (std::vector<std::string>{"/x/lpt", "train", "--config", base, "--set",
                                              "train.steps=5", "--set", "solver.mode=serial",
                                              "--set", "output.file=d/mode=serial.h5", "--set",
                                              "output.checkpoint="}));
  std::vector<std::string> want = {"mpirun"};
  if (geteuid() == 0) want.push_back("--allow-run-as-root");
  if (2 * 3 > sysconf(_SC_NPROCESSORS_ONLN)) want.push_back("--oversubscribe");
  for (const char* f : {"--bind-to", "none", "-np", "3"}) want.push_back(f);
  EXPECT_EQ(std::vector<std::string>(parallel.begin(), parallel.begin() + want.size()), want);
  EXPECT_EQ(parallel[want.size()], "/x/lpt");
  EXPECT_EQ(lpt::mpirun_flags(1, 1).size(), geteuid() == 0 ? 1u : 0u);  // one job: no --bind-to
  // Serial points run alone unless they split the ranks into data-parallel groups.
  EXPECT_TRUE(lpt::point_runs_alone(lpt::resolve_config(nlohmann::json::object(), {})));
  EXPECT_FALSE(lpt::point_runs_alone(
      lpt::resolve_config(nlohmann::json::object(), {"train.data_groups=2", "train.batch=4"})));
  EXPECT_FALSE(lpt::point_runs_alone(
      lpt::resolve_config(nlohmann::json::object(), {"solver.mode=pipeline"})));
}

// ---------------------------------------------------------------------------------------------
// The runner, with the real `lpt` executable on a tiny GPT.

class SweepRun : public ::testing::Test {
 protected:
  void SetUp() override {
    lpt::test::write_tiny_english(dir_);
    const json base = {
        {"model", {{"family", "gpt"}, {"layers", 4}, {"d_model", 16}, {"heads", 2},
                   {"d_ff", 32}, {"seq_len", 16}}},
        {"data", {{"name", "english"}, {"dir", dir_}, {"val_fraction", 0.1}}},
        {"train", {{"steps", 12}, {"batch", 4}, {"lr", 3e-3}, {"warmup", 2}, {"eval_every", 4},
                   {"eval_batches", 2}, {"threads", 1}}},
        {"solver", {{"mgrit", {{"forward", {{"cfactor", 2}}}, {"backward", {{"cfactor", 2}}}}}}},
        {"output", {{"file", dir_ + "/ignored.h5"}, {"log_every", 4}}}};
    lpt::test::write_file(base_file_, base.dump(1));
  }

  lpt::SweepSpec spec(json axes, json set = json::object()) {
    json s = {{"base", base_file_}, {"axes", std::move(axes)}};
    if (!set.empty()) s["set"] = std::move(set);
    return lpt::parse_sweep_spec(s.dump(), "test spec");
  }

  lpt::SweepOutcome run(const lpt::SweepSpec& s, int jobs = 2) {
    lpt::SweepOptions o;
    o.out_dir = out_;
    o.jobs = jobs;
    o.lpt = std::string(LPT_BINARY_DIR) + "/lpt";
    o.out = &log_;
    o.tty = 0;
    return lpt::run_sweep(s, o);
  }

  std::string record(const std::string& name) const { return out_ + "/" + name + ".h5"; }

  json status() const {
    std::ifstream in(out_ + "/sweep_status.json");
    return json::parse(in);
  }

  lpt::test::TempDir tmp_{"lpt_sweep"};
  const std::string dir_ = tmp_.path;
  const std::string base_file_ = dir_ + "/base.json";
  const std::string out_ = dir_ + "/out";
  std::ostringstream log_;
};

double mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<double>(st.st_mtim.tv_sec) * 1e9 + static_cast<double>(st.st_mtim.tv_nsec);
}

TEST_F(SweepRun, AFailingPointIsRecordedAndTheOthersFinish) {
  // The middle point names a data directory that does not exist: a valid config that fails at run
  // time (lpt train exits 1 with the missing data set in its message).
  const auto s = spec(json::array({{{"points", json::array({{{"train.seed", 1}},
                                                           {{"train.seed", 2},
                                                            {"data.dir", dir_ + "/nowhere"}},
                                                           {{"train.seed", 3}}})}}}));
  const auto points = lpt::expand_sweep(s);
  const lpt::SweepOutcome r = run(s);
  EXPECT_EQ(r.points, 3);
  EXPECT_EQ(r.ran, 3);
  EXPECT_EQ(r.done, 2);
  EXPECT_EQ(r.failed, 1) << log_.str();
  EXPECT_EQ(lpt::check_record(record("seed=1")).state, lpt::RecordState::finished);
  EXPECT_EQ(lpt::check_record(record("seed=3")).state, lpt::RecordState::finished);
  const json st = status()["points"][points[1].name];
  EXPECT_EQ(st["state"], "failed");
  EXPECT_EQ(st["exit_code"], 1);
  EXPECT_NE(st["error"].get<std::string>().find("nowhere"), std::string::npos) << st.dump(1);
  EXPECT_NE(log_.str().find("FAILED " + points[1].name), std::string::npos) << log_.str();

  const lpt::SummaryTable t = lpt::collect_sweep(out_);
  ASSERT_EQ(t.rows.size(), 3u);
  const int status_col = t.column("status"), error_col = t.column("error");
  EXPECT_EQ(t.rows[0][status_col].text, "ok");
  EXPECT_EQ(t.rows[1][status_col].text, "failed");
  EXPECT_EQ(t.rows[1][t.column("exit_code")].num, 1);
  EXPECT_NE(t.rows[1][error_col].text.find("exit 1"), std::string::npos);
  EXPECT_TRUE(std::isnan(t.rows[1][t.column("final_val_loss")].num));
  EXPECT_EQ(t.rows[2][status_col].text, "ok");
  EXPECT_TRUE(std::isfinite(t.rows[2][t.column("final_val_loss")].num));

  // A rerun tries the failed point again (and only it).
  const lpt::SweepOutcome again = run(s);
  EXPECT_EQ(again.skipped, 2);
  EXPECT_EQ(again.ran, 1);
  EXPECT_EQ(again.failed, 1);
  EXPECT_EQ(status()["points"][points[1].name]["attempts"], 2);
}

TEST_F(SweepRun, ARerunSkipsFinishedPointsAndRedoesPartialAndMissingOnes) {
  const auto s = spec(json::array({{{"grid", {{"train.lr", {0.001, 0.003}},
                                              {"train.seed", {1, 2}}}}}}));
  const lpt::SweepOutcome first = run(s);
  ASSERT_EQ(first.done, 4) << log_.str();
  // Point A loses its last steps (as a run killed at step 5 leaves it), point B its record.
  const std::string a = record("lr=0.001_seed=2"), b = record("lr=0.003_seed=1");
  {
    lpt::H5Record rec(a, lpt::H5Record::Mode::append);
    rec.truncate("/train/loss", 5);
  }
  EXPECT_EQ(lpt::check_record(a).state, lpt::RecordState::partial);
  EXPECT_EQ(lpt::check_record(a).why, "5 of 12 steps");
  std::remove(b.c_str());
  const double kept1 = mtime_ns(record("lr=0.001_seed=1")), kept2 = mtime_ns(record("lr=0.003_seed=2"));

  const lpt::SweepOutcome second = run(s);
  EXPECT_EQ(second.skipped, 2);
  EXPECT_EQ(second.ran, 2);
  EXPECT_EQ(second.done, 2);
  EXPECT_EQ(mtime_ns(record("lr=0.001_seed=1")), kept1);  // not touched
  EXPECT_EQ(mtime_ns(record("lr=0.003_seed=2")), kept2);
  EXPECT_EQ(lpt::check_record(a).state, lpt::RecordState::finished);
  EXPECT_EQ(read_series(a, "/train/loss").size(), 12u);
  EXPECT_EQ(lpt::check_record(b).state, lpt::RecordState::finished);
  EXPECT_EQ(status()["points"]["lr=0.001_seed=2"]["attempts"], 2);
  EXPECT_EQ(status()["points"]["lr=0.001_seed=1"]["attempts"], 1);

  // A record made with another config than its point's is not silently reused or overwritten.
  const auto changed = spec(json::array({{{"grid", {{"train.lr", {0.001, 0.003}},
                                                    {"train.seed", {1, 2}}}}}}),
                            {{"train.warmup", 3}});
  try {
    run(changed);
    FAIL() << "a stale record was accepted";
  } catch (const lpt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.warmup is 2 in the record but 3"),
              std::string::npos)
        << e.what();
  }
}

// --mpi 2: the layer-parallel point runs under mpirun on 2 ranks, the serial one as one process.
TEST_F(SweepRun, LayerParallelPointsRunUnderMpirun) {
  const auto s = spec(json::array({{{"grid", {{"solver.mode", {"serial", "parallel"}}}}}}));
  lpt::SweepOptions o;
  o.out_dir = out_;
  o.jobs = 1;
  o.mpi = 2;
  o.lpt = std::string(LPT_BINARY_DIR) + "/lpt";
  o.out = &log_;
  o.tty = 0;
  const lpt::SweepOutcome r = lpt::run_sweep(s, o);
  ASSERT_EQ(r.done, 2) << log_.str();
  const lpt::SummaryTable t = lpt::collect_sweep(out_);
  EXPECT_EQ(t.rows[0][t.column("ranks")].num, 1);
  EXPECT_EQ(t.rows[1][t.column("ranks")].num, 2);
  EXPECT_EQ(t.rows[1][t.column("final_mode")].text, "parallel");
  const json cmd = json::parse(std::ifstream(out_ + "/sweep.json"))["points"][1]["command"];
  EXPECT_EQ(cmd[0], "mpirun");
}

TEST_F(SweepRun, RecordStates) {
  const std::string f = dir_ + "/r.h5";
  EXPECT_EQ(lpt::check_record(f).state, lpt::RecordState::missing);
  lpt::test::write_file(f, "not hdf5");
  EXPECT_EQ(lpt::check_record(f).state, lpt::RecordState::partial);
  // A lock naming a live process on this host (this test): a run is writing it.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  lpt::test::write_file(f + ".lock", std::to_string(getpid()) + " " + host + "\n");
  EXPECT_EQ(lpt::RecordLock::live_holder(f), getpid());
  EXPECT_EQ(lpt::check_record(f).state, lpt::RecordState::running);
  std::remove((f + ".lock").c_str());
}

// Reads the int64 field `step` of every row of an event table.
std::vector<long> event_steps(const std::string& file, const std::string& path) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp, &n, nullptr);
  hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(long long));
  H5Tinsert(mt, "step", 0, H5T_NATIVE_LLONG);
  std::vector<long long> v(n);
  if (n) H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Tclose(mt);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  return std::vector<long>(v.begin(), v.end());
}

std::vector<std::string> read_strings(const std::string& file, const std::string& path) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp, &n, nullptr);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  std::vector<char*> raw(n, nullptr);
  std::vector<std::string> out;
  if (n && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) >= 0)
    for (char* p : raw) out.push_back(p ? p : "");
  if (n) H5Dvlen_reclaim(t, sp, H5P_DEFAULT, raw.data());
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  return out;
}

// A CSV line split into fields (quotes as the summary writes them).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      out.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

double nan_() { return std::numeric_limits<double>::quiet_NaN(); }
double last(const std::vector<double>& v) { return v.empty() ? nan_() : v.back(); }
double mean(const std::vector<double>& v) {
  if (v.empty()) return nan_();
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

// The last solve's last defined convergence factor, from the CSR group read raw.
double final_factor(const std::string& f, const std::string& g) {
  const auto off = read_series(f, g + "/offsets");
  const auto val = read_series(f, g + "/values");
  if (off.size() < 2) return nan_();
  for (long i = static_cast<long>(off[off.size() - 1]) - 1; i >= static_cast<long>(off[off.size() - 2]); --i)
    if (val[i] >= 0) return val[i];
  return nan_();
}

bool has(const std::string& file, const std::string& path) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  htri_t e = 0;
  H5E_BEGIN_TRY { e = H5Lexists(f, path.c_str(), H5P_DEFAULT) > 0 &&
                      H5Oexists_by_name(f, path.c_str(), H5P_DEFAULT) > 0; }
  H5E_END_TRY;
  H5Fclose(f);
  return e > 0;
}

TEST_F(SweepRun, SummaryRowsEqualTheRecordsTheyComeFrom) {
  // serial, parallel (convergence factors, gradient checks) and adaptive with a threshold so low
  // that the controller switches to serial at its first check.
  const auto s = spec(json::array({{{"zip", {{"solver.mode", {"serial", "parallel", "adaptive"}},
                                             {"monitor.every", {0, 4, 4}}}}}}),
                      {{"control.eta", 1e-12}, {"control.patience", 1},
                       {"solver.mgrit.forward.iterations", 2},
                       {"solver.mgrit.backward.iterations", 2}});
  const lpt::SweepOutcome r = run(s);
  ASSERT_EQ(r.done, 3) << log_.str();
  const auto points = lpt::expand_sweep(s);

  // The summary files as written, against each record read independently.
  std::ifstream csv(out_ + "/summary.csv");
  std::string line;
  std::getline(csv, line);
  const std::vector<std::string> header = csv_fields(line);
  const std::string h5 = out_ + "/summary.h5";
  auto col = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << name;
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::vector<std::string> h5_names = read_strings(h5, "/summary/name");
  ASSERT_EQ(h5_names.size(), 3u);
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::getline(csv, line);
    const std::vector<std::string> row = csv_fields(line);
    ASSERT_EQ(row.size(), header.size()) << line;
    const std::string f = record(points[i].name);
    EXPECT_EQ(row[col("name")], points[i].name);
    EXPECT_EQ(h5_names[i], points[i].name);
    EXPECT_EQ(row[col("status")], "ok");
    for (const auto& [k, v] : points[i].values)  // the axis values
      EXPECT_EQ(row[col(k)], lpt::value_label(v)) << k;

    const auto val = read_series(f, "/eval/loss");
    const auto eval_step = read_series(f, "/eval/step");
    const auto step_time = read_series(f, "/train/step_time");
    std::vector<double> sorted = step_time;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t best = std::min_element(val.begin(), val.end()) - val.begin();
    const bool lp = has(f, "/monitor/rel_error");
    std::map<std::string, double> want = {
        {"steps", 12},
        {"ranks", 1},
        {"steps_done", static_cast<double>(read_series(f, "/train/loss").size())},
        {"final_val_loss", val.back()},
        {"best_val_loss", val[best]},
        {"best_val_step", eval_step[best]},
        {"final_metric", read_series(f, "/eval/metric").back()},
        {"final_train_loss", read_series(f, "/train/loss").back()},
        {"grad_error_mean", lp ? mean(read_series(f, "/monitor/rel_error")) : nan_()},
        {"grad_error_last", lp ? last(read_series(f, "/monitor/rel_error")) : nan_()},
        {"bias_mean", lp ? mean(read_series(f, "/monitor/bias_ratio")) : nan_()},
        {"bias_last", lp ? last(read_series(f, "/monitor/bias_ratio")) : nan_()},
        {"fwd_conv_factor", has(f, "/solver/forward/conv_factors")
                                ? final_factor(f, "/solver/forward/conv_factors") : nan_()},
        {"adj_conv_factor", has(f, "/solver/adjoint/conv_factors")
                                ? final_factor(f, "/solver/adjoint/conv_factors") : nan_()},
        {"median_step_s", 0.5 * (sorted[5] + sorted[6])},
        {"exit_code", 0}};
    double sum = 0;
    for (double x : step_time) sum += x;
    want["train_s"] = sum;
    want["wall_s"] = status()["points"][points[i].name]["wall_s"].get<double>();
    if (i == 0) {
      EXPECT_TRUE(std::isnan(want["fwd_conv_factor"]));  // serial: no solves, no checks
      EXPECT_TRUE(std::isnan(want["grad_error_mean"]));
    } else {
      EXPECT_TRUE(std::isfinite(want["fwd_conv_factor"])) << points[i].name;
      EXPECT_TRUE(std::isfinite(want["adj_conv_factor"])) << points[i].name;
      EXPECT_TRUE(std::isfinite(want["bias_last"])) << points[i].name;
    }
    for (const auto& [name, v] : want) {
      const std::string cell = row[col(name)];
      const auto h5col = read_series(h5, "/summary/" + name);
      ASSERT_EQ(h5col.size(), 3u) << name;
      if (std::isnan(v)) {
        EXPECT_EQ(cell, "") << points[i].name << " " << name;
        EXPECT_TRUE(std::isnan(h5col[i])) << points[i].name << " " << name;
      } else {
        EXPECT_NEAR(std::stod(cell), v, 1e-9 * std::max(1.0, std::fabs(v)))
            << points[i].name << " " << name;
        EXPECT_EQ(h5col[i], v) << points[i].name << " " << name;  // HDF5: the exact double
      }
    }
    // The controller's actions: the adaptive point's events, and nothing for the others.
    const std::vector<std::string> actions =
        has(f, "/control/events") ? lpt::test::read_event_field(f, "/control/events", "action")
                                  : std::vector<std::string>{};
    const std::vector<long> steps = has(f, "/control/events") ? event_steps(f, "/control/events")
                                                              : std::vector<long>{};
    std::string events;
    double first = nan_(), count = 0;
    for (std::size_t e = 0; e < actions.size(); ++e)
      if (actions[e] == "raise" || actions[e] == "serial") {
        if (count == 0) first = steps[e];
        count += 1;
        events += (events.empty() ? "" : " ") + actions[e] + "@" + std::to_string(steps[e]);
      }
    EXPECT_EQ(row[col("control_events")], events);
    EXPECT_EQ(row[col("control_actions")], std::to_string(static_cast<int>(count)));
    EXPECT_EQ(row[col("control_first_step")], std::isnan(first) ? "" : std::to_string(static_cast<long>(first)));
    if (i == 2) {
      EXPECT_EQ(events.rfind("serial@", 0), 0u) << "the adaptive point never switched";
      EXPECT_EQ(row[col("final_mode")], "serial");
    }
    if (i == 1) {
      EXPECT_EQ(row[col("final_mode")], "parallel");
    }
  }
  EXPECT_EQ(read_strings(h5, "/summary/status"), (std::vector<std::string>{"ok", "ok", "ok"}));
}

TEST_F(SweepRun, AKilledSweepResumesWithOnlyTheUnfinishedPoints) {
  // Three points one at a time, longer ones so that the second is surely still running when the
  // sweep is killed: the test stops it (SIGSTOP) as soon as its record lock names it.
  const auto s = spec(json::array({{{"grid", {{"train.seed", {1, 2, 3}}}}}}),
                      {{"train.steps", 200}, {"train.eval_every", 50}});
  json file = {{"base", base_file_}, {"set", {{"train.steps", 200}, {"train.eval_every", 50}}},
               {"axes", json::array({{{"grid", {{"train.seed", {1, 2, 3}}}}}})}};
  const std::string spec_file = dir_ + "/spec.json";
  lpt::test::write_file(spec_file, file.dump());
  const std::string lpt_exe = std::string(LPT_BINARY_DIR) + "/lpt";
  const pid_t sweep = fork();
  ASSERT_GE(sweep, 0);
  if (sweep == 0) {
    const int fd = ::open((dir_ + "/sweep.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(lpt_exe.c_str(), lpt_exe.c_str(), "sweep", spec_file.c_str(), "-o", out_.c_str(), "-j",
          "1", "--no-tty", static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string second = record("seed=2");
  long child = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    std::ifstream lock(second + ".lock");
    if (lock >> child && child > 0) break;
    child = 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_GT(child, 0) << "the second point never started";
  kill(static_cast<pid_t>(child), SIGSTOP);
  kill(sweep, SIGKILL);
  int ws = 0;
  waitpid(sweep, &ws, 0);
  EXPECT_TRUE(WIFSIGNALED(ws));
  // The point's process learns that its sweep died (SIGTERM, delivered once it continues).
  kill(static_cast<pid_t>(child), SIGCONT);
  const auto t1 = std::chrono::steady_clock::now();
  while (lpt::RecordLock::live_holder(second) != 0 &&
         std::chrono::steady_clock::now() - t1 < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(lpt::RecordLock::live_holder(second), 0) << "the killed sweep left its point running";
  EXPECT_EQ(lpt::check_record(record("seed=1")).state, lpt::RecordState::finished);
  EXPECT_NE(lpt::check_record(second).state, lpt::RecordState::finished);
  EXPECT_EQ(lpt::check_record(record("seed=3")).state, lpt::RecordState::missing);
  const double kept = mtime_ns(record("seed=1"));

  // Resumed (the dead sweep's lock on the directory is taken over).
  const lpt::SweepOutcome r = run(s, 1);
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(r.ran, 2);
  EXPECT_EQ(r.done, 2) << log_.str();
  EXPECT_EQ(mtime_ns(record("seed=1")), kept);
  for (const char* n : {"seed=1", "seed=2", "seed=3"}) {
    EXPECT_EQ(lpt::check_record(record(n)).state, lpt::RecordState::finished) << n;
    EXPECT_EQ(read_series(record(n), "/train/loss").size(), 200u) << n;
    EXPECT_EQ(read_strings(record(n), "/run/starts").size(), 1u) << n;  // from scratch, once
  }
  EXPECT_EQ(status()["points"]["seed=2"]["attempts"], 2);
}

// analysis/plot_sweep.py on a real summary: a line over train.lr with error bars over the seeds
// and a heatmap over (train.lr, train.seed), from the CSV and from the HDF5 file; the table it
// prints holds the mean and standard deviation over the seeds of the summary's own values.
TEST_F(SweepRun, PlotSweepDrawsMeansOverSeedsAndAHeatmap) {
  if (std::system(LPT_PYTHON " -c 'import h5py, matplotlib' 2>/dev/null") != 0)
    GTEST_SKIP() << LPT_PYTHON << " lacks h5py or matplotlib (bash scripts/setup.sh)";
  const auto s = spec(json::array({{{"grid", {{"train.lr", {0.001, 0.003}}}}},
                                   {{"grid", {{"train.seed", {1, 2}}}}}}));
  ASSERT_EQ(run(s).done, 4) << log_.str();
  const lpt::SummaryTable t = lpt::collect_sweep(out_);
  const int lr = t.column("train.lr"), y = t.column("final_val_loss");
  for (const char* file : {"summary.csv", "summary.h5"}) {
    const std::string png = dir_ + "/" + file + ".png", txt = dir_ + "/plot.txt";
    const std::string cmd = std::string(LPT_PYTHON) + " " + LPT_SOURCE_DIR +
                            "/analysis/plot_sweep.py " + out_ + "/" + file + " -o " + png +
                            " --x train.lr --heatmap train.lr train.seed > " + txt + " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_TRUE(lpt::test::is_png(png)) << file;
    std::ifstream out(txt);
    std::map<double, std::pair<double, double>> line;  // lr -> (mean, std) as printed
    int heat_cells = 0;
    for (std::string l; std::getline(out, l);) {
      double x = 0, m = 0, sd = 0;
      int n = 0;
      if (std::sscanf(l.c_str(), "-\t%lf\t%lf\t%lf\tn=%d", &x, &m, &sd, &n) == 4) {
        EXPECT_EQ(n, 2) << l;
        line[x] = {m, sd};
      } else if (std::sscanf(l.c_str(), "%lf\t%lf\t%lf\t%lf\tn=%d", &x, &x, &m, &sd, &n) == 5) {
        EXPECT_EQ(n, 1) << l;  // one run per (lr, seed)
        ++heat_cells;
      }
    }
    EXPECT_EQ(heat_cells, 4) << file;
    ASSERT_EQ(line.size(), 2u) << file;
    for (auto& [x, ms] : line) {
      std::vector<double> v;
      for (const auto& row : t.rows)
        if (std::fabs(row[lr].num - x) < 1e-12) v.push_back(row[y].num);
      ASSERT_EQ(v.size(), 2u);
      const double m = 0.5 * (v[0] + v[1]), sd = std::fabs(v[0] - v[1]) / std::sqrt(2.0);
      EXPECT_NEAR(ms.first, m, 1e-5 * std::fabs(m)) << file << " lr " << x;
      EXPECT_NEAR(ms.second, sd, 1e-2 * sd + 1e-12) << file << " lr " << x;
    }
  }
}

// analysis/paper_figures.py (docs/paper.md) draws from sweep directories: F1 and F2 from a sweep
// over the step size and the solver mode, F4 from one over MGRIT settings, F5 over the batches a
// check averages. Each writes a PNG and prints its table, whose numbers are the summary's.
TEST_F(SweepRun, PaperFiguresDrawFromTheirSweeps) {
  if (std::system(LPT_PYTHON " -c 'import h5py, matplotlib' 2>/dev/null") != 0)
    GTEST_SKIP() << LPT_PYTHON << " lacks h5py or matplotlib (bash scripts/setup.sh)";
  auto sweep_into = [&](const std::string& dir, json axes, json set) {
    json j = {{"base", base_file_}, {"axes", std::move(axes)}, {"set", std::move(set)}};
    lpt::SweepOptions o;
    o.out_dir = dir;
    o.jobs = 2;
    o.lpt = std::string(LPT_BINARY_DIR) + "/lpt";
    o.out = &log_;
    o.tty = 0;
    return lpt::run_sweep(lpt::parse_sweep_spec(j.dump(), "paper test"), o);
  };
  auto draw = [&](const std::string& fig, const std::string& dir) {
    const std::string png = dir + "/" + fig + ".png", txt = dir + "/" + fig + ".txt";
    const std::string cmd = std::string(LPT_PYTHON) + " " + LPT_SOURCE_DIR +
                            "/analysis/paper_figures.py " + fig + " " + dir + " -o " + png +
                            " > " + txt + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_TRUE(lpt::test::is_png(png)) << fig;
    std::vector<std::vector<std::string>> rows;  // the markdown table's data rows, cells trimmed
    std::ifstream in(txt);
    for (std::string l; std::getline(in, l);) {
      if (l.rfind("| ", 0) != 0 || l.rfind("| T |", 0) == 0) continue;
      std::vector<std::string> cells;
      std::stringstream ss(l.substr(2));
      for (std::string c; std::getline(ss, c, '|');) {
        c.erase(0, c.find_first_not_of(' '));
        c.erase(c.find_last_not_of(' ') + 1);
        cells.push_back(c);
      }
      rows.push_back(cells);
    }
    return rows;
  };
  const json monitored = {{"model.step_size", "T/N"}, {"monitor.every", 4}, {"monitor.batches", 2}};
  const std::string f1 = dir_ + "/f1";
  ASSERT_EQ(sweep_into(f1, json::array({{{"grid", {{"model.T", {1, 2}}}}},
                                        {{"grid", {{"solver.mode", {"serial", "parallel",
                                                                    "adaptive"}}}}}}),
                       monitored).done, 6) << log_.str();
  const auto t1 = draw("f1", f1);
  ASSERT_EQ(t1.size(), 6u);
  const lpt::SummaryTable s1 = lpt::collect_sweep(f1);
  for (const auto& row : t1) {  // | T | mode | final val loss | ...
    bool found = false;
    for (const auto& r : s1.rows)
      if (r[s1.column("model.T")].num == std::stod(row[0]) &&
          r[s1.column("solver.mode")].text == row[1]) {
        EXPECT_NEAR(std::stod(row[2]), r[s1.column("final_val_loss")].num, 1e-4) << row[1];
        found = true;
      }
    EXPECT_TRUE(found) << row[0] << " " << row[1];
  }
  EXPECT_EQ(draw("f2", f1).size(), 4u);  // the parallel and adaptive runs at both T
  EXPECT_EQ(draw("f8", f1), t1);  // F8 is F1's figure for the translation sweep

  const json one_step = {{"model.step_size", "T/N"}, {"train.steps", 1}, {"train.warmup", 0},
                         {"train.eval_every", 0}, {"monitor.every", 1},
                         {"solver.mode", "parallel"}};
  const std::string f4 = dir_ + "/f4";
  json it = {{"solver.mgrit.forward.iterations", {1, 2}},
             {"solver.mgrit.backward.iterations", {1, 2}}};
  ASSERT_EQ(sweep_into(f4, json::array({{{"grid", {{"model.T", {1, 2}}}}},
                                        {{"zip", {{"solver.mgrit.forward.levels", {2, 3}},
                                                  {"solver.mgrit.backward.levels", {2, 3}}}}},
                                        {{"grid", it}}}),
                       one_step).done, 16) << log_.str();
  EXPECT_EQ(draw("f4", f4).size(), 4u);  // (T, weights) x (cfactor, levels) panels
  const std::string f5 = dir_ + "/f5";
  ASSERT_EQ(sweep_into(f5, json::array({{{"grid", {{"model.T", {1}}}}},
                                        {{"grid", {{"monitor.batches", {1, 2, 4}}}}}}),
                       one_step).done, 3) << log_.str();
  const auto t5 = draw("f5", f5);
  ASSERT_EQ(t5.size(), 3u);
  EXPECT_EQ(t5[0][5], "1.000");  // the M = 1 row is the reference of the relative norms
}

}  // namespace
