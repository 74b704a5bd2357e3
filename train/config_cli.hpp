#pragma once
// Command-line numbers for `lpt mgrit`, `lpt predict` and `lpt calibrate`, parsed with full
// checking: the whole text must be the number, it must be finite, and an integer must lie in its
// documented range before it is narrowed to the type the command uses. Each error names the
// option, the text and the allowed range.
#include <string>

namespace lpt {

// A finite number in [lo, hi]; "nan", "inf", "1e999" and "3x" are errors.
double cli_number(const std::string& opt, const std::string& text, double lo, double hi);

// An integer in [lo, hi] ("1e3" is accepted as 1000; "2.5" and "4294967298" past hi are not).
long long cli_integer(const std::string& opt, const std::string& text, long long lo, long long hi);

}  // namespace lpt
