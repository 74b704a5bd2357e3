// Checkpoint files: round trip of every type, clear errors, and atomic replacement when the
// writing process dies part-way (a fork()ed child aborts at a chosen stage of the write).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "util/checkpoint_io.hpp"
#include "util/h5record.hpp"

namespace fs = std::filesystem;
using lpt::CheckpointReader;
using lpt::CheckpointWriter;
using lpt::Shape;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() /
          ("lpt_ckpt_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const lpt::Error& e) {
    return e.what();
  }
  return "";
}

// A checkpoint whose every value depends on `version`, so an old and a new one differ everywhere.
void write_version(CheckpointWriter& w, int version) {
  for (int layer = 0; layer < 4; ++layer) {
    std::vector<float> v(6 * 5);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = version * 1000.0f + layer * 100.0f + i;
    w.put("layers." + std::to_string(layer) + ".attn.qkv_w", v.data(), {6, 5});
  }
  w.set_attr("step", static_cast<long long>(version * 100));
}

void expect_version(const std::string& path, int version) {
  CheckpointReader r(path);
  EXPECT_EQ(r.attr_int("step"), version * 100);
  for (int layer = 0; layer < 4; ++layer) {
    const auto v = r.read<float>("layers." + std::to_string(layer) + ".attn.qkv_w", {6, 5});
    for (std::size_t i = 0; i < v.size(); ++i) {
      ASSERT_EQ(v[i], version * 1000.0f + layer * 100.0f + i);
    }
  }
}

// Runs `body` in a child process and returns its wait status.
int in_child(const std::function<void()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST(CheckpointIO, RoundTripOfEveryType) {
  TempDir tmp;
  const std::string path = tmp.file("nested/run.ckpt.h5");
  const std::vector<float> f = {1.5f, -2.25f, 3.0f, 4.0f, 5.0f, 6.0f};
  const std::vector<double> d = {0.1, 0.2, 0.3};
  const std::vector<std::int64_t> i = {-7, 1LL << 40};
  const std::vector<std::uint64_t> u = {~0ULL, 5};
  const std::string bytes("\x00\x01\xff rng", 7);
  const double scalar = 2.75;
  {
    CheckpointWriter w(path);
    w.put("layers.0.mlp.fc_w", f.data(), {2, 3});
    w.put("opt/m/layers.0.mlp.fc_w", d);
    w.put("step_ids", i);
    w.put("rng", u);
    w.put("lr", &scalar, Shape{});
    w.put("empty", static_cast<const float*>(nullptr), {0, 4});
    w.put_bytes("rng_state", bytes.data(), bytes.size());
    w.put_string("config", R"({"model": {"d_model": 128}})");
    w.set_attr("step", 500LL);
    w.set_attr("loss", 3.25);
    w.set_attr("family", "gpt");
    w.commit();
    EXPECT_FALSE(fs::exists(w.temp_path()));
  }
  CheckpointReader r(path);
  EXPECT_EQ(r.names(), (std::vector<std::string>{"config", "empty", "layers.0.mlp.fc_w", "lr",
                                                  "opt/m/layers.0.mlp.fc_w", "rng", "rng_state",
                                                  "step_ids"}));
  EXPECT_EQ(r.read<float>("layers.0.mlp.fc_w", {2, 3}), f);
  EXPECT_EQ(r.shape("layers.0.mlp.fc_w"), (Shape{2, 3}));
  EXPECT_EQ(r.dtype("layers.0.mlp.fc_w"), lpt::DType::f32);
  EXPECT_EQ(r.read<double>("opt/m/layers.0.mlp.fc_w"), d);
  EXPECT_EQ(r.read<std::int64_t>("step_ids", {2}), i);
  EXPECT_EQ(r.read<std::uint64_t>("rng", {2}), u);
  EXPECT_EQ(r.read<double>("lr", Shape{}), std::vector<double>{2.75});
  EXPECT_TRUE(r.read<float>("empty", {0, 4}).empty());
  const auto b = r.read_bytes("rng_state");
  EXPECT_EQ(std::string(b.begin(), b.end()), bytes);
  EXPECT_EQ(r.read_string("config"), R"({"model": {"d_model": 128}})");
  EXPECT_EQ(r.attr_int("step"), 500);
  EXPECT_DOUBLE_EQ(r.attr_double("loss"), 3.25);
  EXPECT_EQ(r.attr_string("family"), "gpt");
  // ParamStore shapes (std::vector<int>) convert.
  EXPECT_EQ(r.read<float>("layers.0.mlp.fc_w", std::vector<int>{2, 3}), f);
}

TEST(CheckpointIO, ClearErrors) {
  TempDir tmp;
  const std::string path = tmp.file("a.ckpt.h5");
  {
    CheckpointWriter w(path);
    write_version(w, 1);
    EXPECT_NE(error_of([&] { w.put("layers.0.attn.qkv_w", std::vector<float>{1}); })
                  .find("written twice"),
              std::string::npos);
    w.commit();
  }
  CheckpointReader r(path);
  std::string e = error_of([&] { r.read<float>("layers.0.attn.qkv_w", {5, 6}); });
  EXPECT_NE(e.find("has shape [6, 5], expected [5, 6]"), std::string::npos) << e;
  e = error_of([&] { r.read<double>("layers.0.attn.qkv_w", {6, 5}); });
  EXPECT_NE(e.find("is float32, read as float64"), std::string::npos) << e;
  e = error_of([&] { r.read<float>("layers.9.attn.qkv_w", {6, 5}); });
  EXPECT_NE(e.find("has no array 'layers.9.attn.qkv_w' (it holds 4 arrays"), std::string::npos)
      << e;
  e = error_of([&] { r.attr_int("epoch"); });
  EXPECT_NE(e.find("no attribute 'epoch'"), std::string::npos) << e;

  e = error_of([&] { CheckpointReader x(tmp.file("missing.h5")); });
  EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
  std::FILE* junk = std::fopen(tmp.file("junk.h5").c_str(), "w");
  std::fputs("definitely not hdf5", junk);
  std::fclose(junk);
  e = error_of([&] { CheckpointReader x(tmp.file("junk.h5")); });
  EXPECT_NE(e.find("not a checkpoint (not an HDF5 file)"), std::string::npos) << e;
  { lpt::H5Record rec(tmp.file("record.h5"), lpt::H5Record::Mode::create); }
  e = error_of([&] { CheckpointReader x(tmp.file("record.h5")); });
  EXPECT_NE(e.find("not an lpt checkpoint"), std::string::npos) << e;
}

TEST(CheckpointIO, WriterWithoutCommitLeavesNothing) {
  TempDir tmp;
  const std::string path = tmp.file("a.ckpt.h5");
  std::string temp;
  {
    CheckpointWriter w(path);
    write_version(w, 1);
    temp = w.temp_path();
    EXPECT_TRUE(fs::exists(temp));
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_FALSE(fs::exists(path));
}

TEST(CheckpointIO, CrashMidWriteKeepsThePreviousCheckpoint) {
  TempDir tmp;
  const std::string path = tmp.file("run.ckpt.h5");
  {
    CheckpointWriter w(path);
    write_version(w, 1);
    w.commit();
  }
  // The child dies (abort, no cleanup) after 2 of 4 arrays, then just before the rename.
  for (const char* stage : {"array", "rename"}) {
    SCOPED_TRACE(stage);
    const int status = in_child([&] {
      CheckpointWriter w(path);
      w.set_stage_hook([&](const char* s, std::size_t n) {
        if (std::string(s) == stage && (std::string(s) == "rename" || n == 2)) std::abort();
      });
      write_version(w, 2);
      w.commit();
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child was meant to abort";
    expect_version(path, 1);
  }
  // A completed write replaces it.
  const int status = in_child([&] {
    CheckpointWriter w(path);
    write_version(w, 3);
    w.commit();
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  expect_version(path, 3);
  // The aborted children left their temporary files; they are never mistaken for the checkpoint.
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(tmp.dir)) {
    leftovers += e.path().filename().string().find(".tmp.") != std::string::npos;
  }
  EXPECT_EQ(leftovers, 2);
}
