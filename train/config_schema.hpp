#pragma once
// The table behind resolve_config(): every valid key with its type, default, valid range, the
// model families it applies to, and a one-line meaning. One table so that validation, defaults,
// `--help` and the docs test (every key documented in docs/config.md) cannot drift apart.
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/config.hpp"

namespace lpt::config_detail {

enum class Kind {
  integer,    // JSON integer (or an integral float such as 1e3)
  number,     // any JSON number
  string,     // any JSON string
  choice,     // one of `choices`
  int_array,  // array of `array_len` integers, each in range
  num_array,  // array of `array_len` numbers, each in range
  step_size,  // a positive number or the string "T/N" (alias "1/N")
  boolean,    // true or false
};

constexpr unsigned kAllFamilies = 0xF;
constexpr unsigned family_bit(Family f) { return 1u << static_cast<unsigned>(f); }

struct KeySpec {
  std::string path;  // "train.lr"
  Kind kind = Kind::string;
  nlohmann::json def;
  std::string doc;  // meaning, one line
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;  // true: lo itself is excluded
  bool hi_open = false;
  std::vector<std::string> choices;
  std::size_t array_len = 0;
  unsigned families = kAllFamilies;
  // Writes the resolved value into its field of the typed config, so that a key's path, default,
  // range and field are declared in one row. Empty only for model.step_size and model.T, which
  // resolve_config() turns into model.h together.
  std::function<void(const nlohmann::json&, RunConfig&)> store;
};

const std::vector<KeySpec>& schema();

// nullptr when `path` names no leaf key.
const KeySpec* find_key(const std::string& path);

// True when `path` is a section (or sub-section) above some key: "model", "solver.mgrit".
bool is_section(const std::string& path);

// "a positive number", "an integer >= 1", "one of \"gpt\", \"bert\", \"vit\", \"mt\"", ...
std::string expectation(const KeySpec& k);

// Type and range check of one value.
bool value_ok(const KeySpec& k, const nlohmann::json& v);

// "gpt|bert" for the families bitmask.
std::string family_list(unsigned families);

// The known key or section closest to an unknown `path` (edit distance on the full path and on
// the last component, so both typos and keys placed in the wrong section are found).
std::string nearest_key(const std::string& path);

}  // namespace lpt::config_detail
