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

// ---------------------------------------------------------------------------------------------
// Checksums: any change to what a resume reads is refused, naming the file.

namespace {

void write_small(const std::string& path, long long step) {
  CheckpointWriter w(path);
  std::vector<float> p(40);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = 0.25f * i - 3;
  w.put("params/wte", p.data(), {8, 5});
  std::vector<double> c = {3, 1, 2, 0.5, -1};
  w.put("control/state", c);
  std::vector<std::uint64_t> d = {1, 2, 0xfedcba9876543210ull};
  w.put("data/state", d);
  const std::int64_t rows = 7;
  w.put("record_rows/train/loss", &rows, Shape{1});
  w.put_string("config", "{\"model\": {\"layers\": 2}}");
  const unsigned char b[3] = {9, 8, 7};
  w.put_bytes("blob", b, 3);
  w.set_attr("step", step);
  w.set_attr("format", "lpt-train-checkpoint");
  w.set_attr("lr", 3e-4);
  w.commit();
}

// Every array's values and every attribute, as text: "loaded the same" means equal snapshots.
std::string snapshot(const CheckpointReader& r) {
  std::string s;
  for (const auto& n : r.names()) {
    s += n + ":";
    switch (r.dtype(n)) {
      case lpt::DType::f32: for (float v : r.read<float>(n)) s += std::to_string(v) + ","; break;
      case lpt::DType::f64: for (double v : r.read<double>(n)) s += std::to_string(v) + ","; break;
      case lpt::DType::i64: for (auto v : r.read<std::int64_t>(n)) s += std::to_string(v) + ","; break;
      case lpt::DType::u64: for (auto v : r.read<std::uint64_t>(n)) s += std::to_string(v) + ","; break;
      case lpt::DType::bytes: for (auto v : r.read_bytes(n)) s += std::to_string(v) + ","; break;
      case lpt::DType::string: s += r.read_string(n); break;
    }
    s += ";";
  }
  return s + std::to_string(r.attr_int("step")) + r.attr_string("format") +
         std::to_string(r.attr_double("lr"));
}

std::vector<char> slurp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::vector<char> v(static_cast<std::size_t>(fs::file_size(path)));
  EXPECT_EQ(std::fread(v.data(), 1, v.size(), f), v.size());
  std::fclose(f);
  return v;
}

void spill(const std::string& path, const std::vector<char>& v) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_EQ(std::fwrite(v.data(), 1, v.size(), f), v.size());
  std::fclose(f);
}

// Byte offset in the file of a contiguous dataset's data.
// Clears the file checksum in the user block, as in a file written before lpt kept one there: the
// reader then relies on the lpt_checksum attribute alone.
void forget_file_checksum(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  const char zeros[64] = {};
  std::fwrite(zeros, 1, sizeof zeros, f);
  std::fclose(f);
}

std::uint64_t data_offset(const std::string& path, const std::string& name) {
  lpt::h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  lpt::h5::Handle d(H5Dopen2(f, name.c_str(), H5P_DEFAULT));
  // HDF5 addresses count from the end of the user block (the file's own checksum).
  lpt::h5::Handle fcpl(H5Fget_create_plist(f));
  hsize_t user_block = 0;
  H5Pget_userblock(fcpl, &user_block);
  const haddr_t a = H5Dget_offset(d);
  return a == HADDR_UNDEF ? a : a + user_block;
}

}  // namespace

TEST(CheckpointIO, ChecksumIsStoredAndVerified) {
  TempDir tmp;
  const std::string path = tmp.file("a.ckpt.h5");
  write_small(path, 10);
  CheckpointReader r(path);
  EXPECT_TRUE(r.has_attr("lpt_checksum"));
  EXPECT_EQ(r.attr_string("lpt_checksum"), r.contents_checksum());
  EXPECT_EQ(r.attr_string("lpt_checksum").size(), 16u);
  // The same contents give the same checksum, another step another one.
  write_small(tmp.file("b.ckpt.h5"), 10);
  write_small(tmp.file("c.ckpt.h5"), 11);
  EXPECT_EQ(CheckpointReader(tmp.file("b.ckpt.h5")).attr_string("lpt_checksum"),
            r.attr_string("lpt_checksum"));
  EXPECT_NE(CheckpointReader(tmp.file("c.ckpt.h5")).attr_string("lpt_checksum"),
            r.attr_string("lpt_checksum"));
}

// Every bit of every numeric array's data, flipped one at a time, is refused with a message
// naming the file and the checksum.
TEST(CheckpointIO, EveryBitFlipInEveryArrayIsRefused) {
  TempDir tmp;
  const std::string good = tmp.file("good.ckpt.h5"), bad = tmp.file("bad.ckpt.h5");
  write_small(good, 10);
  const std::vector<char> bytes = slurp(good);
  const std::vector<std::pair<std::string, std::size_t>> arrays = {
      {"params/wte", 40 * 4}, {"control/state", 5 * 8}, {"data/state", 3 * 8},
      {"record_rows/train/loss", 8}, {"blob", 3}};
  int flips = 0;
  for (const auto& [name, size] : arrays) {
    const std::uint64_t off = data_offset(good, name);
    ASSERT_NE(off, HADDR_UNDEF) << name;
    for (std::size_t bit = 0; bit < 8 * size; ++bit) {
      std::vector<char> b = bytes;
      b[off + bit / 8] = static_cast<char>(b[off + bit / 8] ^ (1 << (bit % 8)));
      spill(bad, b);
      const std::string err = error_of([&] { CheckpointReader r(bad); });
      ASSERT_NE(err.find("does not match its checksum"), std::string::npos)
          << name << " bit " << bit << ": " << err;
      ASSERT_NE(err.find(bad), std::string::npos) << err;
      ++flips;
    }
  }
  EXPECT_EQ(flips, 8 * (160 + 40 + 24 + 8 + 3));
}

// A single-bit flip anywhere in the file (metadata, attributes, strings included; every 29th bit
// to keep it quick) either is refused with an lpt::Error or lands in bytes nothing reads: it
// never loads different contents.
TEST(CheckpointIO, NoBitFlipAnywhereLoadsDifferentContents) {
  TempDir tmp;
  const std::string good = tmp.file("good.ckpt.h5"), bad = tmp.file("bad.ckpt.h5");
  write_small(good, 10);
  const std::string want = snapshot(CheckpointReader(good));
  const std::vector<char> bytes = slurp(good);
  int refused = 0, harmless = 0;
  for (std::size_t bit = 0; bit < 8 * bytes.size(); bit += 29) {
    std::vector<char> b = bytes;
    b[bit / 8] = static_cast<char>(b[bit / 8] ^ (1 << (bit % 8)));
    spill(bad, b);
    std::string got;
    const std::string err = error_of([&] { got = snapshot(CheckpointReader(bad)); });
    if (!err.empty()) {
      ++refused;
    } else {
      ASSERT_EQ(got, want) << "bit " << bit << " loaded different contents";
      ++harmless;
    }
  }
  std::printf("bit flips: %d refused, %d in unused bytes (file of %zu bytes)\n", refused,
              harmless, bytes.size());
  EXPECT_GT(refused, 0);
}

// An edited counter (as h5py would do it) is caught: the attribute `step` and a record_rows array.
TEST(CheckpointIO, HandEditedCountersAreRefused) {
  TempDir tmp;
  const std::string path = tmp.file("a.ckpt.h5");
  write_small(path, 10);
  {
    lpt::h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    lpt::h5::Handle root(H5Gopen2(f, "/", H5P_DEFAULT));
    lpt::h5::write_attr(root, "step", 20LL);
  }
  std::string err = error_of([&] { CheckpointReader r(path); });
  EXPECT_NE(err.find("does not match its checksum"), std::string::npos) << err;
  write_small(path, 10);
  {
    lpt::h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    lpt::h5::Handle d(H5Dopen2(f, "record_rows/train/loss", H5P_DEFAULT));
    const std::int64_t rows = 3;
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &rows);
  }
  err = error_of([&] { CheckpointReader r(path); });
  EXPECT_NE(err.find("does not match its checksum"), std::string::npos) << err;
  // An array added by hand, or the checksum removed, is refused too.
  write_small(path, 10);
  {
    lpt::h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    lpt::h5::Handle root(H5Gopen2(f, "/", H5P_DEFAULT));
    H5Adelete(root, "lpt_checksum");
  }
  err = error_of([&] { CheckpointReader r(path); });
  EXPECT_NE(err.find("does not match its checksum (file checksum"), std::string::npos) << err;
  forget_file_checksum(path);  // and without the file's own checksum, the attribute's absence
  err = error_of([&] { CheckpointReader r(path); });
  EXPECT_NE(err.find("checksum attribute 'lpt_checksum' is missing"), std::string::npos) << err;
}

// commit() keeps the replaced checkpoint as PATH.prev; a damaged checkpoint's error names it.
TEST(CheckpointIO, DamagedCheckpointNamesTheIntactPreviousOne) {
  TempDir tmp;
  const std::string path = tmp.file("run.ckpt.h5");
  write_small(path, 10);
  EXPECT_FALSE(fs::exists(path + ".prev"));
  write_small(path, 20);
  ASSERT_TRUE(fs::exists(path + ".prev"));
  EXPECT_EQ(CheckpointReader(path + ".prev").attr_int("step"), 10);
  EXPECT_EQ(CheckpointReader(path).attr_int("step"), 20);
  std::vector<char> b = slurp(path);
  const std::uint64_t off = data_offset(path, "params/wte");
  b[off + 5] = static_cast<char>(b[off + 5] ^ 4);
  spill(path, b);
  const std::string err = error_of([&] { CheckpointReader r(path); });
  EXPECT_NE(err.find("previous checkpoint '" + path + ".prev' (step 10) is intact"),
            std::string::npos)
      << err;
}

// Version-1 checkpoints (before checksums) load with a warning. A checkpoint that has a checksum
// is verified whatever its version says, so no single flipped bit makes it "old".
TEST(CheckpointIO, CheckpointsWithoutChecksumsLoadWithAWarning) {
  TempDir tmp;
  const std::string path = tmp.file("old.ckpt.h5");
  write_small(path, 10);
  {
    lpt::h5::Handle f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    lpt::h5::Handle root(H5Gopen2(f, "/", H5P_DEFAULT));
    H5Adelete(root, "lpt_checksum");
    lpt::h5::write_attr(root, "lpt_checkpoint", 1LL);
  }
  forget_file_checksum(path);  // a version-1 file has no file checksum either
  testing::internal::CaptureStderr();
  CheckpointReader r(path);
  const std::string warn = testing::internal::GetCapturedStderr();
  EXPECT_NE(warn.find("predates checkpoint checksums"), std::string::npos) << warn;
  EXPECT_EQ(r.attr_int("step"), 10);
  // A checksummed file whose version reads 1 is still verified (and fails).
  const std::string other = tmp.file("new.ckpt.h5");
  write_small(other, 10);
  {
    lpt::h5::Handle f(H5Fopen(other.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    lpt::h5::Handle root(H5Gopen2(f, "/", H5P_DEFAULT));
    lpt::h5::write_attr(root, "lpt_checkpoint", 1LL);
  }
  forget_file_checksum(other);  // the attribute checksum alone must catch it
  const std::string err = error_of([&] { CheckpointReader r2(other); });
  EXPECT_NE(err.find("does not match its checksum"), std::string::npos) << err;
}

TEST(CheckpointIO, DirectoriesAndSpecialFilesAreRefused) {
  TempDir tmp;
  const std::string dir = tmp.file("folder");
  fs::create_directories(dir);
  std::string err = error_of([&] { CheckpointReader r(dir); });
  EXPECT_NE(err.find("is a directory"), std::string::npos) << err;
  err = error_of([&] { CheckpointWriter w(dir); });
  EXPECT_NE(err.find("is a directory"), std::string::npos) << err;
  err = error_of([&] { CheckpointWriter w("/dev/full"); });
  EXPECT_NE(err.find("special file"), std::string::npos) << err;
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  // A folder on the way that is a regular file.
  const std::string txt = tmp.file("out.txt");
  spill(txt, {'h', 'i'});
  err = error_of([&] { CheckpointWriter w(txt + "/run.ckpt.h5"); });
  EXPECT_NE(err.find("'" + txt + "' is a file, not a folder"), std::string::npos) << err;
  EXPECT_EQ(slurp(txt).size(), 2u);
}
