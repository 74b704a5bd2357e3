#pragma once
// One error type for everything a user can get wrong (config, shapes, files, options). The message
// must name the problem and the fix; main() prints it and exits non-zero.
#include <sstream>
#include <stdexcept>
#include <string>

namespace lpt {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class A, class... R>
void append(std::ostringstream& os, const A& a, const R&... r) {
  os << a;
  append(os, r...);
}
}  // namespace detail

// fail("layers must be >= 1, got ", n, "; set model.layers")
template <class... A>
[[noreturn]] void fail(const A&... a) {
  std::ostringstream os;
  detail::append(os, a...);
  throw Error(os.str());
}

template <class... A>
void require(bool ok, const A&... a) {
  if (!ok) fail(a...);
}

}  // namespace lpt
