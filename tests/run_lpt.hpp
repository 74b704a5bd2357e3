#pragma once
// Runs the built `lpt` executable from a test, the way a user types it.
#include <sys/wait.h>

#include <cstdio>
#include <string>

// Runs `lpt ARGS` (split by the shell), returning the exit status (128 when it did not exit
// normally) and appending stdout and stderr together to *out.
inline int run_lpt(const std::string& args, std::string* out) {
  const std::string cmd = std::string(LPT_BINARY_DIR) + "/lpt " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
