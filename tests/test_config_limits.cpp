// Issue 14: config values that used to be silently narrowed, JSON that overflowed the stack or
// escaped as "internal error", and an unknown key that took seconds to suggest a neighbour.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "train/config.hpp"
#include "train/config_schema.hpp"
#include "input/files.hpp"
#include "util/error.hpp"

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// The message of the lpt::Error that `--set assignment` throws ("" when it resolves).
std::string set_error(const std::string& assignment) {
  try {
    lpt::resolve_config(json::object(), {assignment});
  } catch (const lpt::Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_SET_ERROR(assignment, ...)                                           \
  do {                                                                              \
    const std::string msg = set_error(assignment);                                  \
    EXPECT_FALSE(msg.empty()) << "accepted: " << (assignment);                      \
    for (const std::string part : {__VA_ARGS__}) {                                  \
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg; \
    }                                                                               \
  } while (0)

fs::path temp_file(const std::string& tag, const std::string& text) {
  const fs::path p = fs::temp_directory_path() /
                     ("lpt_limits_" + tag + "_" + std::to_string(::getpid()) + ".json");
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::string load_error(const fs::path& p) {
  try {
    lpt::load_config(p.string());
  } catch (const lpt::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// Values past 2^31 or 2^32 used to wrap into small ones (4294967298 layers trained 2).
TEST(ConfigLimits, IntegersBeyondTheirRangeNameKeyValueAndRange) {
  EXPECT_SET_ERROR("model.layers=4294967298", "model.layers", "4294967298", "[1, 65536]");
  EXPECT_SET_ERROR("model.heads=4294967296", "model.heads", "4294967296", "[1, 4096]");
  EXPECT_SET_ERROR("model.d_model=2147483648", "model.d_model", "2147483648");
  EXPECT_SET_ERROR("model.d_model=100000", "model.d_model", "[1, 65536]");
  EXPECT_SET_ERROR("model.d_ff=1000000000", "model.d_ff", "[0, 1048576]");
  EXPECT_SET_ERROR("model.layers=1e9", "model.layers");
  EXPECT_SET_ERROR("model.seq_len=4294967312", "model.seq_len");
  EXPECT_SET_ERROR("model.vocab=4294967552", "model.vocab");
  EXPECT_SET_ERROR("train.batch=4294967300", "train.batch");
  EXPECT_SET_ERROR("train.threads=4294967297", "train.threads", "[0, 4096]");
  EXPECT_SET_ERROR("train.eval_batches=4294967296", "train.eval_batches");
  EXPECT_SET_ERROR("train.steps=18446744073709551615", "train.steps", "18446744073709551615",
                   "1099511627776");
  EXPECT_SET_ERROR("solver.mgrit.forward.cfactor=4294967298", "solver.mgrit.forward.cfactor");
  EXPECT_SET_ERROR("solver.mgrit.backward.levels=65", "solver.mgrit.backward.levels", "[1, 64]");
  EXPECT_SET_ERROR("train.seed=-1", "train.seed");
  EXPECT_SET_ERROR("data.seed=18446744073709551615", "data.seed");
  // The caps themselves are accepted (the range is inclusive).
  EXPECT_EQ(set_error("train.steps=1099511627776"), "");
  EXPECT_EQ(lpt::resolve_config(json::object(), {"model.heads=4096", "model.d_model=4096"})
                .model.heads,
            4096);
}

TEST(ConfigLimits, NonFiniteNumbersRejected) {
  EXPECT_SET_ERROR("train.lr=1e999", "train.lr", "beyond double's range");
  EXPECT_SET_ERROR("train.lr=inf", "train.lr");
  EXPECT_SET_ERROR("train.lr=NaN", "train.lr");
  EXPECT_SET_ERROR("train.clip=-1e999", "train.clip");
  EXPECT_SET_ERROR("model.step_size=Infinity", "model.step_size");
}

TEST(ConfigLimits, DeepJsonRejectedWhileParsing) {
  for (const std::string& deep : {"{\"description\": " + std::string(100000, '[') +
                                      std::string(100000, ']') + "}",
                                  [] {
                                    std::string s;
                                    for (int i = 0; i < 50000; ++i) s += "{\"a\": ";
                                    s += "1";
                                    return s + std::string(50000, '}');
                                  }()}) {
    const fs::path p = temp_file("deep", deep);
    const std::string msg = load_error(p);
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("nested deeper than 64"), std::string::npos) << msg;
    fs::remove(p);
  }
  EXPECT_SET_ERROR("description=" + std::string(100000, '[') + std::string(100000, ']'),
                   "--set description", "nested deeper");
  // Depth up to the limit still parses (and is then judged as a value).
  EXPECT_NO_THROW(lpt::parse_config_json(std::string(63, '[') + std::string(63, ']'), "x"));
}

TEST(ConfigLimits, BrokenJsonNamesTheFile) {
  struct Case {
    std::string tag, text, expect;
  };
  const Case cases[] = {
      {"utf8", "{\"description\": \"\xff\xfe\"}", "not valid JSON"},
      {"overflow", "{\"train\": {\"lr\": 1e999}}", "within double's range"},
      {"nul", std::string("{}\0garbage", 10), "NUL byte at offset 2"},
      {"string_for_number", "{\"train\": {\"lr\": \"0.1\"}}", "train.lr: expected a positive number"},
  };
  for (const auto& c : cases) {
    const fs::path p = temp_file(c.tag, c.text);
    const std::string msg = load_error(p);
    EXPECT_NE(msg.find(p.string()), std::string::npos) << c.tag << ": " << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.tag << ": " << msg;
    fs::remove(p);
  }
}

TEST(ConfigLimits, ConfigThatIsADirectory) {
  const std::string msg = load_error(fs::temp_directory_path());
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
}

TEST(ConfigLimits, InvalidUtf8InSetIsAnError) {
  EXPECT_SET_ERROR("description=\xff\xfe", "--set description", "UTF-8");
  // A value shown in a message is cut: a 100 kB string does not become a 100 kB message.
  const std::string msg = set_error("train.lr=\"" + std::string(100000, 'x') + "\"");
  EXPECT_NE(msg.find("train.lr"), std::string::npos);
  EXPECT_LT(msg.size(), 1000u);
}

TEST(ConfigLimits, HugeUnknownKeyIsSuggestedQuickly) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = set_error("train." + std::string(100000, 'l') + "=1");
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(msg.find("did you mean"), std::string::npos) << msg.substr(0, 200);
  EXPECT_LT(s, 1.0) << "suggesting a neighbour took " << s << " s";
}

// A data set's meta.json with a string where a number belongs, and a listed file replaced by a
// directory, used to end in "internal error" (type_error, bad_alloc) instead of naming the file.
TEST(ConfigLimits, MetaJsonMistypedOrFileIsADirectory) {
  const fs::path dir = fs::temp_directory_path() / ("lpt_meta_" + std::to_string(::getpid()));
  fs::create_directories(dir / "set" / "x.bin");
  std::ofstream(dir / "set" / "meta.json")
      << R"({"files": {"x.bin": {"bytes": 4, "crc32": "00000000"},
                       "y.bin": {"bytes": "4", "crc32": "00000000"}}})";
  const lpt::DataSetFiles ds(dir.string(), "set");
  for (const std::string file : {"x.bin", "y.bin"}) {
    try {
      ds.read(file);
      ADD_FAILURE() << file << " read";
    } catch (const lpt::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find((dir / "set").string()), std::string::npos) << msg;
      EXPECT_NE(msg.find(file == "x.bin" ? "x.bin: missing" : "integer 'bytes'"),
                std::string::npos)
          << msg;
    }
  }
  fs::remove_all(dir);
}

// docs/config.md's range column is what resolve_config enforces (the ranges are the fix for
// silently narrowed integers, so a stale row would document values that are now errors).
TEST(ConfigLimits, DocumentedRangesMatchTheSchema) {
  std::ifstream in(fs::path(LPT_SOURCE_DIR) / "docs" / "config.md");
  ASSERT_TRUE(in.good());
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(in, line)) rows.push_back(line);
  for (const auto& k : lpt::config_detail::schema()) {
    // Its row states the narrower rule check_solver adds ("0 or a number > 1").
    if (k.path == "control.alarm_growth") continue;
    const std::string head = "| `" + k.path + "` |";
    const auto row = std::find_if(rows.begin(), rows.end(),
                                  [&](const std::string& r) { return r.rfind(head, 0) == 0; });
    ASSERT_NE(row, rows.end()) << k.path;
    EXPECT_NE(row->find("| " + lpt::config_detail::expectation(k) + " |"), std::string::npos)
        << k.path << ": docs say\n" << *row << "\nschema says " << lpt::config_detail::expectation(k);
  }
}

// Every key within its own range, but a tensor built from several would pass 2^31 elements.
TEST(ConfigLimits, ShapesWhoseProductsOverflowAreRefused) {
  const auto err = [](std::vector<std::string> sets) {
    try {
      lpt::resolve_config(json::object(), sets);
    } catch (const lpt::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(err({"model.d_model=65536", "model.d_ff=65536", "train.batch=1", "model.seq_len=1"})
                .find("model.d_model x model.d_ff (one MLP weight) = 4294967296"),
            std::string::npos);
  EXPECT_NE(err({"train.batch=1048576", "model.seq_len=65536"}).find("train.batch x"),
            std::string::npos);
  EXPECT_NE(err({"model.vocab=16777216", "model.d_model=256"}).find("model.vocab x model.d_model"),
            std::string::npos);
  // Just under the limit: 32768 x 65535 = 2147450880.
  EXPECT_EQ(err({"model.d_model=32768", "model.d_ff=65535", "train.batch=1", "model.seq_len=1"}),
            "");
}
