// Issue 11 item 4: one command-line parser for every `lpt` command (experiments/cli.hpp). Its
// value rules directly, then the built `lpt` in every command: the same integer rule (`mgrit
// --steps 1e2` used to run 100 steps), unknown options refused, defaults in --help.
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "experiments/cli.hpp"
#include "run_lpt.hpp"
#include "util/error.hpp"

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const lpt::Error& e) {
    return e.what();
  }
  return "";
}

bool have_lpt() { return std::filesystem::exists(std::string(LPT_BINARY_DIR) + "/lpt"); }

// One option's entry in a --help text, from its line to the next option's, with its wrapped lines
// joined by single spaces.
std::string entry(const std::string& help, const std::string& option) {
  const std::size_t at = help.find("\n  " + option + " ");
  if (at == std::string::npos) return "";
  const std::size_t end = help.find("\n  -", at + 1);
  const std::string e =
      help.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
  std::string out;
  for (char c : e)
    if (!std::isspace(static_cast<unsigned char>(c)) || (!out.empty() && out.back() != ' '))
      out += std::isspace(static_cast<unsigned char>(c)) ? ' ' : c;
  return out;
}

const char* const kCommands[] = {"train", "mgrit", "predict", "calibrate", "trajectory"};

}  // namespace

TEST(Cli, IntegersAreDigitsOnly) {
  EXPECT_EQ(lpt::cli::to_integer("--n", "100", 0, 1000), 100);
  EXPECT_EQ(lpt::cli::to_integer("--n", "-3", -5, 5), -3);
  EXPECT_EQ(lpt::cli::to_integer("--n", "+4", -5, 5), 4);
  EXPECT_EQ(lpt::cli::to_integer("--n", "007", 0, 10), 7);  // decimal, not octal
  for (const char* bad : {"1e2", "12abc", "0x10", "2.5", "", "+", "-", " 1", "1 ", "1,2", "inf"}) {
    const std::string m = error_of([&] { lpt::cli::to_integer("--n", bad, -1000, 1000); });
    EXPECT_NE(m.find("option --n expects an integer"), std::string::npos) << bad << ": " << m;
    EXPECT_NE(m.find(std::string("'") + bad + "'"), std::string::npos) << bad << ": " << m;
  }
  const std::string m = error_of([] { lpt::cli::to_integer("--n", "99999999999999999999", 0, 9); });
  EXPECT_NE(m.find("option --n must be an integer in [0, 9]"), std::string::npos) << m;
}

TEST(Cli, RealsTakeTheUsualFloatSyntax) {
  EXPECT_DOUBLE_EQ(lpt::cli::to_real("--x", "1e-3", -1, 1), 1e-3);
  EXPECT_DOUBLE_EQ(lpt::cli::to_real("--x", "-2.5", -3, 1), -2.5);
  EXPECT_DOUBLE_EQ(lpt::cli::to_real("--x", ".5", -3, 1), 0.5);
  EXPECT_DOUBLE_EQ(lpt::cli::to_real("--x", "3", -3, 3), 3.0);
  for (const char* bad : {"nan", "inf", "1e999", "3x", "0x1p3", "", " 1", "1,5"}) {
    const std::string m = error_of([&] { lpt::cli::to_real("--x", bad, -1e9, 1e9); });
    EXPECT_NE(m.find("option --x expects a finite number"), std::string::npos) << bad << ": " << m;
  }
  EXPECT_NE(error_of([] { lpt::cli::to_real("--x", "2", 0, 1); }).find("must be in [0, 1]"),
            std::string::npos);
}

TEST(Cli, ListsAreIntegersSeparatedByCommas) {
  EXPECT_EQ(lpt::cli::to_integer_list("--l", "8,64,512", 1, 1024), (std::vector<int>{8, 64, 512}));
  for (const char* bad : {"8,1e2", "8,,16", "8,", "", "8;16"}) {
    const std::string m = error_of([&] { lpt::cli::to_integer_list("--l", bad, 1, 1024); });
    EXPECT_NE(m.find("option --l"), std::string::npos) << bad << ": " << m;
  }
}

// The declared variables hold the defaults; parsing overwrites only what is given, and the help
// shows the defaults as declared.
TEST(Cli, OptionsBindVariablesAndShowDefaults) {
  CLI::App app("a test command", "lpt test");
  lpt::cli::Options o(app);
  long steps = 1024;
  double tol = 1e-10;
  std::string mode = "V", file;
  std::vector<int> ranks = {8, 16};
  bool on = false;
  o.integer("--steps", steps, 1, 1 << 24, "steps");
  o.real("--tol", tol, 0, 1, "tolerance");
  o.choice("--cycle", mode, {"V", "F"}, "cycle", true);
  o.integer_list("--ranks", ranks, 1, 64, "ranks");
  o.text("--out", file, "FILE", "output");
  o.flag("--on", on, "switch");
  const std::string help = app.help();
  EXPECT_NE(entry(help, "--steps").find("(default 1024)"), std::string::npos) << help;
  EXPECT_NE(entry(help, "--tol").find("(default 1e-10)"), std::string::npos) << help;
  EXPECT_NE(entry(help, "--cycle").find("(default V)"), std::string::npos) << help;
  EXPECT_NE(entry(help, "--ranks").find("(default 8,16)"), std::string::npos) << help;
  EXPECT_EQ(entry(help, "--out").find("(default"), std::string::npos) << help;

  lpt::cli::parse(app, {"--steps", "64", "--tol=0.5", "--cycle", "f", "--ranks", "2,4", "--on",
                        "--steps", "32"});
  EXPECT_EQ(steps, 32);  // given twice: the last counts
  EXPECT_DOUBLE_EQ(tol, 0.5);
  EXPECT_EQ(mode, "F");
  EXPECT_EQ(ranks, (std::vector<int>{2, 4}));
  EXPECT_TRUE(on);
  EXPECT_EQ(file, "");
}

TEST(Cli, ParseErrorsNameTheOptionAndTheHelp) {
  auto error = [](const std::vector<std::string>& args) {
    CLI::App app("a test command", "lpt test");
    lpt::cli::Options o(app);
    long steps = 1;
    bool on = false;
    std::string mode = "V";
    o.integer("--steps", steps, 1, 100, "steps");
    o.flag("--on", on, "switch");
    o.choice("--cycle", mode, {"V", "F"}, "cycle");
    return error_of([&] { lpt::cli::parse(app, args); });
  };
  EXPECT_EQ(error({"--bogus"}), "unknown option '--bogus'; see lpt test --help");
  EXPECT_EQ(error({"--steps", "2", "stray"}),
            "unexpected argument 'stray' (lpt test takes options only); see lpt test --help");
  EXPECT_EQ(error({"--steps"}), "option --steps needs a value; see lpt test --help");
  EXPECT_EQ(error({"--on=1"}), "option --on takes no value; see lpt test --help");
  EXPECT_EQ(error({"--steps", "1e2"}),
            "option --steps expects an integer (decimal digits, e.g. 100), got '1e2'");
  EXPECT_EQ(error({"--cycle", "W"}), "option --cycle expects one of V, F, got 'W'");
  EXPECT_EQ(error({"--cycle", "v"}), "option --cycle expects one of V, F, got 'v'");
  // An unknown option is named before the errors of the others.
  EXPECT_EQ(error({"--steps", "1e2", "--bogus"}), "unknown option '--bogus'; see lpt test --help");
  CLI::App app("help", "lpt test");
  lpt::cli::Options o(app);
  EXPECT_THROW(lpt::cli::parse(app, {"--help"}), CLI::CallForHelp);
  long steps = 1;
  o.integer("--steps", steps, 1, 100, "steps");
  EXPECT_THROW(lpt::cli::parse(app, {"--steps", "1e2", "--bogus", "-h"}), CLI::CallForHelp);
}

// The three reproducers and the same rule in the other commands: refused, exit 1, the
// message names the option and the text.
TEST(Cli, EveryCommandReadsIntegersTheSameWay) {
  if (!have_lpt()) GTEST_SKIP() << "no lpt";
  struct Case {
    const char* args;
    const char* option;
    const char* text;
  };
  for (const Case& c : {Case{"mgrit --steps 1e2", "--steps", "1e2"},
                        Case{"predict --layers 1e2", "--layers", "1e2"},
                        Case{"calibrate --reps 12abc", "--reps", "12abc"},
                        Case{"mgrit --iters 12abc", "--iters", "12abc"},
                        Case{"predict --batch 8.0", "--batch", "8.0"},
                        Case{"trajectory --out x.h5 --stop 1e2", "--stop", "1e2"},
                        Case{"sweep s.json --jobs 1e2", "--jobs", "1e2"},
                        Case{"sweep s.json --mpi 2abc", "--mpi", "2abc"}}) {
    std::string out;
    EXPECT_EQ(run_lpt(c.args, &out), 1) << c.args << ":\n" << out;
    EXPECT_NE(out.find(std::string("option ") + c.option + " expects an integer"),
              std::string::npos)
        << c.args << ":\n" << out;
    EXPECT_NE(out.find(std::string("'") + c.text + "'"), std::string::npos) << c.args << ":\n"
                                                                           << out;
  }
}

TEST(Cli, EveryCommandRefusesUnknownOptions) {
  if (!have_lpt()) GTEST_SKIP() << "no lpt";
  for (const char* cmd : kCommands) {
    std::string out;
    EXPECT_EQ(run_lpt(std::string(cmd) + " --bogus 3", &out), 1) << cmd << ":\n" << out;
    EXPECT_NE(out.find(std::string("lpt ") + cmd + ": error: unknown option '--bogus'; see lpt " +
                       cmd + " --help"),
              std::string::npos)
        << cmd << ":\n" << out;
    out.clear();
    EXPECT_EQ(run_lpt(std::string(cmd) + " stray", &out), 1) << cmd << ":\n" << out;
    EXPECT_NE(out.find("unexpected argument 'stray'"), std::string::npos) << cmd << ":\n" << out;
  }
}

// lpt sweep takes one positional (the spec), so a second word is the stray one.
TEST(Cli, SweepRefusesUnknownOptionsAndASecondSpec) {
  if (!have_lpt()) GTEST_SKIP() << "no lpt";
  std::string out;
  EXPECT_EQ(run_lpt("sweep s.json --bogus 3", &out), 1) << out;
  EXPECT_NE(out.find("lpt sweep: error: unknown option '--bogus'; see lpt sweep --help"),
            std::string::npos)
      << out;
  out.clear();
  EXPECT_EQ(run_lpt("sweep a.json b.json", &out), 1) << out;
  EXPECT_NE(out.find("unexpected argument 'b.json'"), std::string::npos) << out;
}

TEST(Cli, EveryCommandShowsItsDefaultsInHelp) {
  if (!have_lpt()) GTEST_SKIP() << "no lpt";
  struct Case {
    const char* cmd;
    const char* option;
    const char* shown;
  };
  for (const Case& c : {Case{"train", "--config", "(default the built-in"},
                        Case{"mgrit", "--steps", "(default 1024)"},
                        Case{"mgrit", "--tol", "(default 1e-10)"},
                        Case{"predict", "--layers", "(default 128,1024)"},
                        Case{"predict", "--batch", "(default 8)"},
                        Case{"calibrate", "--reps", "(default 20)"},
                        Case{"calibrate", "--out", "(default calibration.json)"},
                        Case{"trajectory", "--dtype", "(default float32)"},
                        Case{"sweep", "--mpirun", "(default mpirun)"}}) {
    std::string out;
    EXPECT_EQ(run_lpt(std::string(c.cmd) + " --help", &out), 0) << c.cmd << ":\n" << out;
    EXPECT_NE(out.find(std::string("Usage: lpt ") + c.cmd), std::string::npos) << out;
    EXPECT_NE(entry(out, c.option).find(c.shown), std::string::npos)
        << c.cmd << " " << c.option << ":\n" << out;
  }
  std::string out;
  EXPECT_EQ(run_lpt("mgrit -h", &out), 0) << out;
  EXPECT_NE(entry(out, "--steps").find("(default 1024)"), std::string::npos) << out;
}

// `lpt train`'s run-config options as before: --set in both spellings, --config once, --resume
// without --config.
TEST(Cli, TrainKeepsItsConfigOptions) {
  if (!have_lpt()) GTEST_SKIP() << "no lpt";
  std::string out;
  EXPECT_EQ(run_lpt("train --print-config --set train.steps=7 --set=train.lr=0.5", &out), 0)
      << out;
  EXPECT_NE(out.find("\"steps\": 7"), std::string::npos) << out;
  EXPECT_NE(out.find("\"lr\": 0.5"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_lpt("train --config a.json --config b.json", &out), 1) << out;
  EXPECT_NE(out.find("option --config given 2 times"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_lpt("train --resume x.ckpt.h5 --config y.json", &out), 1) << out;
  EXPECT_NE(out.find("--resume takes its config from the checkpoint"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_lpt("train --set train.steps=7 train.lr=1", &out), 1) << out;
  EXPECT_NE(out.find("unexpected argument 'train.lr=1'"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_lpt("trajectory", &out), 1) << out;
  EXPECT_NE(out.find("option --out is required"), std::string::npos) << out;
}

// Options given twice: the last value counts, in every command (a script may append overrides).
TEST(Cli, LastValueCounts) {
  if (!have_lpt()) GTEST_SKIP() << "no lpt";
  std::string out;
  EXPECT_EQ(run_lpt("mgrit --steps 64 --steps 32", &out), 0) << out;
  EXPECT_NE(out.find("dahlquist, 32 steps"), std::string::npos) << out;
}
