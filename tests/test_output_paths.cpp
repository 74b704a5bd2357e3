// Where a run may write (train/output_paths.hpp): nothing that is not a regular HDF5 file is ever
// overwritten, the record and the checkpoint are never one file, a path under a file is named.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "train/output_paths.hpp"
#include "util/checkpoint_io.hpp"
#include "util/error.hpp"
#include "util/h5handle.hpp"
#include "util/h5record.hpp"

namespace {
namespace fs = std::filesystem;

struct TmpDir {
  fs::path p = fs::temp_directory_path() / ("lpt_out_" + std::to_string(::getpid()));
  TmpDir() { fs::create_directories(p); }
  ~TmpDir() { fs::remove_all(p); }
};

std::string refusal(const std::string& key, const fs::path& path, bool overwrite = false) {
  const auto kind =
      key == "output.file" ? lpt::OutputKind::record : lpt::OutputKind::checkpoint;
  try {
    lpt::check_output_path(key, path.string(), kind, overwrite);
  } catch (const lpt::Error& e) {
    return e.what();
  }
  return "";
}

TEST(OutputPaths, WhatMayBeWrittenPasses) {
  TmpDir d;
  EXPECT_EQ(refusal("output.file", d.p / "new.h5"), "");
  EXPECT_EQ(refusal("output.file", d.p / "sub" / "dir" / "new.h5"), "");  // created later
  { lpt::H5Record r((d.p / "old.h5").string(), lpt::H5Record::Mode::create); }
  EXPECT_EQ(refusal("output.file", d.p / "old.h5"), "");  // an earlier record: rerun over it
  lpt::check_output_path("output.checkpoint", "", lpt::OutputKind::checkpoint);  // off
}

TEST(OutputPaths, WhatMustNotBeWrittenIsRefusedByName) {
  TmpDir d;
  std::ofstream(d.p / "notes.txt") << "the training text\n";
  const std::string text = refusal("output.file", d.p / "notes.txt");
  EXPECT_NE(text.find("output.file"), std::string::npos) << text;
  EXPECT_NE(text.find("not an HDF5 file"), std::string::npos) << text;
  EXPECT_NE(refusal("output.file", d.p / "notes.txt" / "run.h5").find("which is a file"),
            std::string::npos);
  EXPECT_NE(refusal("output.checkpoint", d.p).find("is a directory"), std::string::npos);
  ASSERT_EQ(::mkfifo((d.p / "fifo").c_str(), 0600), 0);
  EXPECT_NE(refusal("output.checkpoint", d.p / "fifo").find("special file"), std::string::npos);
  EXPECT_NE(refusal("output.checkpoint", "/dev/full").find("special file"), std::string::npos);
  std::ifstream in(d.p / "notes.txt");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "the training text");  // untouched
}

// An HDF5 file is replaced only when it is what lpt writes at that key; output.overwrite lets
// any HDF5 file go, never a text file.
TEST(OutputPaths, OnlyLptsOwnKindOfHdf5FileIsReplaced) {
  TmpDir d;
  { lpt::H5Record r((d.p / "run.h5").string(), lpt::H5Record::Mode::create); }
  {
    lpt::CheckpointWriter w((d.p / "run.ckpt.h5").string());
    w.set_attr("step", 1LL);
    w.commit();
  }
  {
    lpt::h5::Handle f(H5Fcreate((d.p / "data.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT,
                                H5P_DEFAULT));
  }
  EXPECT_EQ(refusal("output.file", d.p / "run.h5"), "");
  EXPECT_EQ(refusal("output.checkpoint", d.p / "run.ckpt.h5"), "");
  std::string e = refusal("output.file", d.p / "run.ckpt.h5");
  EXPECT_NE(e.find("is an lpt checkpoint, not an lpt run record"), std::string::npos) << e;
  e = refusal("output.checkpoint", d.p / "run.h5");
  EXPECT_NE(e.find("is an lpt run record, not an lpt checkpoint"), std::string::npos) << e;
  e = refusal("output.file", d.p / "data.h5");
  EXPECT_NE(e.find("an HDF5 file lpt did not write"), std::string::npos) << e;
  EXPECT_NE(e.find("output.overwrite=true"), std::string::npos) << e;
  EXPECT_EQ(refusal("output.file", d.p / "data.h5", true), "");
  EXPECT_EQ(refusal("output.file", d.p / "run.ckpt.h5", true), "");
  std::ofstream(d.p / "notes.txt") << "text\n";
  EXPECT_NE(refusal("output.file", d.p / "notes.txt", true).find("not an HDF5 file"),
            std::string::npos);
}

TEST(OutputPaths, RecordAndCheckpointMustDiffer) {
  TmpDir d;
  const fs::path rec = d.p / "run.h5";
  EXPECT_THROW(lpt::check_output_paths(rec.string(), (d.p / "." / "run.h5").string()), lpt::Error);
  fs::create_directories(d.p / "a");
  EXPECT_THROW(lpt::check_output_paths(rec.string(), (d.p / "a" / ".." / "run.h5").string()),
               lpt::Error);
  EXPECT_NO_THROW(lpt::check_output_paths(rec.string(), (d.p / "run.ckpt.h5").string()));
}

TEST(OutputPaths, KeptCheckpointsCarryTheirStepBeforeTheExtension) {
  EXPECT_EQ(lpt::kept_checkpoint_path("runs/a.ckpt.h5", 500), "runs/a.ckpt.step500.h5");
  EXPECT_EQ(lpt::kept_checkpoint_path("ckpt", 7), "ckpt.step7");
  EXPECT_EQ(lpt::kept_checkpoint_path(".h5", 7), ".h5.step7");
}

}  // namespace
