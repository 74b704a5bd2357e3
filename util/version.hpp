#pragma once
// The version of this build (`git describe --always --dirty --tags` at configure time, else the
// project version). It lives in one generated source file so that a new commit recompiles that
// file only, not every library.
namespace lpt {
const char* version();
}
