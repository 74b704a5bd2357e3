// Runs the PyTorch reference's self-test (tests/torch_ref/selftest.py): the reference is the
// yardstick of the C++ models, so it must itself match torch.nn's transformer layers, its
// gradients must match finite differences, and its exchange files must round-trip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <sys/wait.h>

namespace {

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool torch_available() {
  return run(std::string(LPT_PYTHON) + " -c 'import torch, h5py, numpy' >/dev/null 2>&1") == 0;
}

}  // namespace

TEST(TorchRef, SelfTest) {
  if (!torch_available()) GTEST_SKIP() << LPT_PYTHON << " cannot import torch, h5py and numpy";
  const std::string cmd = std::string(LPT_PYTHON) + " " LPT_SOURCE_DIR "/tests/torch_ref/selftest.py";
  EXPECT_EQ(run(cmd), 0) << "the PyTorch reference failed its self-test; run " << cmd;
}
