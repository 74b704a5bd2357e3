// Checked command-line numbers (config_cli.hpp).
#include "train/config_cli.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "util/error.hpp"

namespace lpt {

namespace {

// strtod over the whole text; false when anything is left over or nothing was read.
bool whole_double(const std::string& text, double* out) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && errno != ERANGE;
}

}  // namespace

double cli_number(const std::string& opt, const std::string& text, double lo, double hi) {
  double x = 0;
  require(whole_double(text, &x) && std::isfinite(x), "option ", opt,
          " expects a finite number, got '", text, "'");
  require(x >= lo && x <= hi, "option ", opt, " must be in [", lo, ", ", hi, "], got ", text);
  return x;
}

long long cli_integer(const std::string& opt, const std::string& text, long long lo,
                      long long hi) {
  double x = 0;
  require(whole_double(text, &x) && std::isfinite(x) && x == std::floor(x), "option ", opt,
          " expects an integer, got '", text, "'");
  // Compared as doubles before any conversion: a value past hi never reaches the integer type.
  require(x >= static_cast<double>(lo) && x <= static_cast<double>(hi), "option ", opt,
          " must be an integer in [", lo, ", ", hi, "], got ", text);
  return static_cast<long long>(x);
}

}  // namespace lpt
