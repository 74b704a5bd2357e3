// H5Record: write a few steps, reopen with the plain HDF5 API and check contents and attributes;
// append after reopening; a killed writer keeps every flushed step; appending is cheap.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "util/version.hpp"
#include "util/h5handle.hpp"
#include "util/h5record.hpp"

namespace fs = std::filesystem;
using lpt::H5Record;
using lpt::h5::Handle;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() /
          ("lpt_h5rec_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

Handle open_ro(const std::string& path) {
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  EXPECT_TRUE(f.valid()) << path;
  return f;
}

std::vector<hsize_t> dims_of(hid_t file, const std::string& path) {
  Handle d(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  Handle s(H5Dget_space(d));
  std::vector<hsize_t> dims(static_cast<std::size_t>(H5Sget_simple_extent_ndims(s)));
  H5Sget_simple_extent_dims(s, dims.data(), nullptr);
  return dims;
}

template <class T>
std::vector<T> read_all(hid_t file, const std::string& path, hid_t mem_type) {
  Handle d(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  std::size_t n = 1;
  for (hsize_t x : dims_of(file, path)) n *= x;
  std::vector<T> out(n);
  if (n) {
    EXPECT_GE(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), 0);
  }
  return out;
}

std::vector<std::string> read_strings(hid_t file, const std::string& path) {
  Handle d(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  Handle t = lpt::h5::vlen_string_type();
  const std::size_t n = dims_of(file, path)[0];
  std::vector<char*> p(n);
  H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data());
  std::vector<std::string> out(p.begin(), p.end());
  Handle s(H5Dget_space(d));
  H5Dvlen_reclaim(t, s, H5P_DEFAULT, p.data());
  return out;
}

void write_steps(H5Record& rec, int first, int last) {
  for (int s = first; s < last; ++s) {
    rec.append("/train/loss", 10.0 - s);
    rec.append("/train/step", s);
    rec.append_row("/train/phase_time", {0.1 * s, 0.2 * s, 0.3 * s},
                   {"forward", "backward", "optimizer"});
    rec.append_series("/solver/forward/residuals", std::vector<double>(s % 3, 1.0 * s));
    rec.flush();
  }
}

}  // namespace

TEST(H5Record, WritesDatasetsAndRootAttributes) {
  TempDir tmp;
  const std::string path = tmp.file("sub/run.h5");  // parent folder created on demand
  {
    H5Record rec(path, H5Record::Mode::create);
    rec.write_run_info(R"({"train": {"lr": 0.001}})");
    write_steps(rec, 0, 5);
    rec.append_event("/control/events", 3, "switch_to_serial", "bias detected", R"({"cos": 0.4})");
    rec.set_attr("/train/loss", "unit", "nats");
    rec.set_attr("/monitor", "every", 5);
  }
  Handle f = open_ro(path);
  Handle root(H5Gopen2(f, "/", H5P_DEFAULT));
  EXPECT_EQ(lpt::h5::read_string_attr(root, "config"), R"({"train": {"lr": 0.001}})");
  EXPECT_EQ(lpt::h5::read_string_attr(root, "lpt_version"), lpt::version());
  EXPECT_FALSE(lpt::h5::read_string_attr(root, "hostname").empty());
  const std::string start = lpt::h5::read_string_attr(root, "start_time");
  EXPECT_EQ(start.size(), 20u);
  EXPECT_EQ(start.back(), 'Z');

  EXPECT_EQ(read_all<double>(f, "/train/loss", H5T_NATIVE_DOUBLE),
            (std::vector<double>{10, 9, 8, 7, 6}));
  EXPECT_EQ(read_all<long long>(f, "/train/step", H5T_NATIVE_LLONG),
            (std::vector<long long>{0, 1, 2, 3, 4}));
  EXPECT_EQ(dims_of(f, "/train/phase_time"), (std::vector<hsize_t>{5, 3}));
  const auto pt = read_all<double>(f, "/train/phase_time", H5T_NATIVE_DOUBLE);
  EXPECT_DOUBLE_EQ(pt[3 * 4 + 2], 0.3 * 4);
  Handle ptd(H5Dopen2(f, "/train/phase_time", H5P_DEFAULT));
  EXPECT_EQ(lpt::h5::read_string_list_attr(ptd, "columns"),
            (std::vector<std::string>{"forward", "backward", "optimizer"}));

  // Series lengths 0,1,2,0,1: offsets 0,0,1,3,3,4.
  EXPECT_EQ(read_all<long long>(f, "/solver/forward/residuals/offsets", H5T_NATIVE_LLONG),
            (std::vector<long long>{0, 0, 1, 3, 3, 4}));
  EXPECT_EQ(read_all<double>(f, "/solver/forward/residuals/values", H5T_NATIVE_DOUBLE),
            (std::vector<double>{1, 2, 2, 4}));

  struct Row {
    long long step;
    char* action;
    char* reason;
    char* metrics;
  };
  Handle str = lpt::h5::vlen_string_type();
  Handle t(H5Tcreate(H5T_COMPOUND, sizeof(Row)));
  H5Tinsert(t, "step", HOFFSET(Row, step), H5T_NATIVE_LLONG);
  H5Tinsert(t, "action", HOFFSET(Row, action), str);
  H5Tinsert(t, "reason", HOFFSET(Row, reason), str);
  H5Tinsert(t, "metrics", HOFFSET(Row, metrics), str);
  Handle ev(H5Dopen2(f, "/control/events", H5P_DEFAULT));
  Row row{};
  ASSERT_GE(H5Dread(ev, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &row), 0);
  EXPECT_EQ(row.step, 3);
  EXPECT_STREQ(row.action, "switch_to_serial");
  EXPECT_STREQ(row.reason, "bias detected");
  EXPECT_STREQ(row.metrics, R"({"cos": 0.4})");
  Handle evs(H5Dget_space(ev));
  H5Dvlen_reclaim(t, evs, H5P_DEFAULT, &row);

  Handle loss(H5Dopen2(f, "/train/loss", H5P_DEFAULT));
  EXPECT_EQ(lpt::h5::read_string_attr(loss, "unit"), "nats");
  Handle mon(H5Gopen2(f, "/monitor", H5P_DEFAULT));
  EXPECT_EQ(lpt::h5::read_int_attr(mon, "every"), 5);
  EXPECT_EQ(read_strings(f, "/run/starts").size(), 1u);
}

TEST(H5Record, AppendModeContinuesAndKeepsFirstStart) {
  TempDir tmp;
  const std::string path = tmp.file("run.h5");
  {
    H5Record rec(path, H5Record::Mode::create);
    rec.write_run_info("{\"a\": 1}");
    write_steps(rec, 0, 3);
  }
  {
    H5Record rec(path, H5Record::Mode::append);
    EXPECT_EQ(rec.rows("/train/loss"), 3u);
    EXPECT_EQ(rec.rows("/solver/forward/residuals"), 3u);
    rec.write_run_info("{\"a\": 2}");
    write_steps(rec, 3, 6);
  }
  Handle f = open_ro(path);
  EXPECT_EQ(read_all<double>(f, "/train/loss", H5T_NATIVE_DOUBLE),
            (std::vector<double>{10, 9, 8, 7, 6, 5}));
  EXPECT_EQ(dims_of(f, "/train/phase_time"), (std::vector<hsize_t>{6, 3}));
  EXPECT_EQ(read_all<long long>(f, "/solver/forward/residuals/offsets", H5T_NATIVE_LLONG),
            (std::vector<long long>{0, 0, 1, 3, 3, 4, 6}));
  Handle root(H5Gopen2(f, "/", H5P_DEFAULT));
  EXPECT_EQ(lpt::h5::read_string_attr(root, "config"), "{\"a\": 1}");
  const auto starts = read_strings(f, "/run/starts");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_NE(starts[1].find("\"a\":2"), std::string::npos) << starts[1];
}

TEST(H5Record, CreateTruncatesAnOldRecord) {
  TempDir tmp;
  const std::string path = tmp.file("run.h5");
  { H5Record rec(path, H5Record::Mode::create); write_steps(rec, 0, 4); }
  { H5Record rec(path, H5Record::Mode::create); EXPECT_EQ(rec.rows("/train/loss"), 0u); }
}

TEST(H5Record, TruncateDropsRowsPastACheckpoint) {
  TempDir tmp;
  const std::string path = tmp.file("run.h5");
  H5Record rec(path, H5Record::Mode::create);
  write_steps(rec, 0, 6);
  rec.truncate("/train/loss", 4);
  rec.truncate("/solver/forward/residuals", 4);  // lengths 0,1,2,0 remain
  rec.append("/train/loss", -1.0);
  rec.append_series("/solver/forward/residuals", {7.0});
  rec.flush();
  Handle f = open_ro(path);
  EXPECT_EQ(read_all<double>(f, "/train/loss", H5T_NATIVE_DOUBLE),
            (std::vector<double>{10, 9, 8, 7, -1}));
  EXPECT_EQ(read_all<long long>(f, "/solver/forward/residuals/offsets", H5T_NATIVE_LLONG),
            (std::vector<long long>{0, 0, 1, 3, 3, 4}));
  EXPECT_EQ(read_all<double>(f, "/solver/forward/residuals/values", H5T_NATIVE_DOUBLE),
            (std::vector<double>{1, 2, 2, 7}));
  EXPECT_THROW(rec.truncate("/train/loss", 9), lpt::Error);
}

// series() is derived from the file: every kind of append is listed (a ragged series once, as its
// group), fixed datasets and /run/ are not, and a series added later shows up without any list.
TEST(H5Record, SeriesAreEveryGrowingDatasetOutsideRun) {
  TempDir tmp;
  H5Record rec(tmp.file("run.h5"), H5Record::Mode::create);
  rec.write_run_info("{}");
  rec.append("/train/loss", 1.0);
  rec.append("/solver/step", 3);
  rec.append_row("/train/phase_time", {1, 2}, {"a", "b"});
  rec.append_series("/solver/forward/residuals", {1.0, 0.5});
  rec.append_string("/notes/text", "x");
  rec.append_event("/control/events", 0, "start", "why");
  {
    const hsize_t n = 3;
    Handle space(H5Screate_simple(1, &n, nullptr));
    Handle d(H5Dcreate2(rec.file_id(), "/fixed", H5T_NATIVE_DOUBLE, space, H5P_DEFAULT,
                        H5P_DEFAULT, H5P_DEFAULT));
  }
  EXPECT_EQ(rec.series(),
            (std::vector<std::string>{"/control/events", "/notes/text", "/solver/forward/residuals",
                                      "/solver/step", "/train/loss", "/train/phase_time"}));
  rec.append("/monitor/new_series", 2.0);
  const auto after = rec.series();
  EXPECT_NE(std::find(after.begin(), after.end(), "/monitor/new_series"), after.end());
  for (const std::string& p : after) EXPECT_EQ(p.rfind("/run/", 0), std::string::npos) << p;
}

TEST(H5Record, MisuseIsAClearError) {
  TempDir tmp;
  H5Record rec(tmp.file("run.h5"), H5Record::Mode::create);
  rec.append("/train/loss", 1.0);
  EXPECT_THROW(rec.append("/train/loss", 3), lpt::Error);  // int64 into a float64 dataset
  EXPECT_THROW(rec.append_row("/train/phase_time", {1, 2}), lpt::Error);  // columns unnamed
  rec.append_row("/train/phase_time", {1, 2}, {"a", "b"});
  EXPECT_THROW(rec.append_row("/train/phase_time", {1, 2, 3}), lpt::Error);
  EXPECT_THROW(rec.append("train/no_slash", 1.0), lpt::Error);
  std::FILE* junk = std::fopen(tmp.file("junk.h5").c_str(), "w");
  std::fputs("not hdf5", junk);
  std::fclose(junk);
  EXPECT_THROW(H5Record(tmp.file("junk.h5"), H5Record::Mode::append), lpt::Error);
}

// A record cut short (a full disk, a partial copy) is named as damaged, with the way out.
TEST(H5Record, TruncatedRecordIsNamedDamaged) {
  TempDir tmp;
  const std::string path = tmp.file("run.h5");
  {
    H5Record rec(path, H5Record::Mode::create);
    write_steps(rec, 0, 50);
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  std::string err;
  try {
    H5Record rec(path, H5Record::Mode::append);
  } catch (const lpt::Error& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("the file is truncated or damaged"), std::string::npos) << err;
  EXPECT_NE(err.find("--set output.file=NEW.h5"), std::string::npos) << err;
}

TEST(H5Record, KilledWriterKeepsEveryFlushedStep) {
  TempDir tmp;
  const std::string path = tmp.file("run.h5");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    H5Record rec(path, H5Record::Mode::create);
    rec.write_run_info("{}");
    write_steps(rec, 0, 7);
    rec.append("/train/loss", 123.0);  // never flushed: may or may not survive
    _exit(0);                          // no destructor, no H5Fclose: as if killed
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  H5Record rec(path, H5Record::Mode::append);
  EXPECT_GE(rec.rows("/train/loss"), 7u);
  EXPECT_EQ(rec.rows("/train/phase_time"), 7u);
  EXPECT_EQ(rec.rows("/solver/forward/residuals"), 7u);
  write_steps(rec, 7, 8);  // and the run can go on appending
  EXPECT_EQ(rec.rows("/train/phase_time"), 8u);
}

TEST(H5Record, AppendingOneValueIsCheap) {
  TempDir tmp;
  H5Record rec(tmp.file("run.h5"), H5Record::Mode::create);
  const int steps = 2000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    rec.append("/train/loss", 1.0 / (s + 1));
    rec.append("/train/lr", 1e-3);
    rec.append("/train/grad_norm", 0.5);
    rec.append("/train/step_time", 0.01);
    rec.append_row("/train/phase_time", {1, 2, 3}, {"forward", "backward", "optimizer"});
    rec.flush();
  }
  const double per_step_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
      steps;
  std::printf("5 appends + 1 flush per step: %.1f us/step\n", per_step_us);
  EXPECT_LT(per_step_us, 1000.0);  // the whole step's record keeping stays below 1 ms
}

// docs/records.md's h5py recipe, run against a record written here.
TEST(H5Record, ReadableWithH5py) {
  if (!fs::exists(LPT_PYTHON)) GTEST_SKIP() << LPT_PYTHON << " missing";
  TempDir tmp;
  const std::string path = tmp.file("run.h5");
  {
    H5Record rec(path, H5Record::Mode::create);
    rec.write_run_info(R"({"model": {"d_model": 128}})");
    write_steps(rec, 0, 4);
    rec.append_event("/control/events", 2, "switch_to_serial", "cosine below 0.9",
                     R"({"cos": 0.5})");
  }
  const std::string script = tmp.file("read.py");
  std::FILE* py = std::fopen(script.c_str(), "w");
  std::fputs(R"PY(
import json, sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    cfg = json.loads(f.attrs["config"])
    assert cfg["model"]["d_model"] == 128
    assert f.attrs["start_time"].endswith("Z")
    assert list(f["/train/loss"][:]) == [10, 9, 8, 7]
    assert f["/train/step"].dtype == np.int64
    pt = f["/train/phase_time"]
    phases = dict(zip(pt.attrs["columns"], pt[:].T))
    assert np.allclose(phases["backward"], [0, 0.2, 0.4, 0.6]), phases
    g = f["/solver/forward/residuals"]
    off, val = g["offsets"][:], g["values"][:]
    per_step = [list(val[off[i]:off[i + 1]]) for i in range(len(off) - 1)]
    assert per_step == [[], [1.0], [2.0, 2.0], []], per_step
    rows = [(int(s), a.decode(), r.decode(), json.loads(m)) for s, a, r, m in f["/control/events"][:]]
    assert rows == [(2, "switch_to_serial", "cosine below 0.9", {"cos": 0.5})], rows
    starts = [json.loads(s) for s in f["/run/starts"].asstr()[:]]
    assert starts[0]["config"]["model"]["d_model"] == 128
print("ok")
)PY",
             py);
  std::fclose(py);
  const std::string cmd = std::string(LPT_PYTHON) + " " + script + " " + path + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p)) out += buf;
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "ok\n");
}
