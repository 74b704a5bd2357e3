// One writer per record (train/record_lock.hpp): a second writer is refused with the first one's
// pid, a lock left by a dead process is taken over, a lock from another host is left alone.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "train/record_lock.hpp"
#include "util/error.hpp"

namespace {
namespace fs = std::filesystem;

std::string record_path() {
  return (fs::temp_directory_path() / ("lpt_lock_" + std::to_string(::getpid()) + ".h5")).string();
}

TEST(RecordLock, SecondWriterIsRefusedWithTheFirstPid) {
  const std::string rec = record_path();
  {
    lpt::RecordLock first(rec);
    EXPECT_TRUE(fs::exists(lpt::RecordLock::lock_path(rec)));
    try {
      lpt::RecordLock second(rec);
      ADD_FAILURE() << "a second writer got the lock";
    } catch (const lpt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(::getpid())), std::string::npos)
          << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(lpt::RecordLock::lock_path(rec)));  // released
  EXPECT_NO_THROW(lpt::RecordLock again(rec));
}

TEST(RecordLock, LockOfADeadProcessIsTakenOver) {
  const std::string rec = record_path();
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // reaped: its pid runs nothing now
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::ofstream(lpt::RecordLock::lock_path(rec)) << child << " " << host << "\n";
  EXPECT_NO_THROW(lpt::RecordLock taken(rec));
  EXPECT_FALSE(fs::exists(lpt::RecordLock::lock_path(rec)));
}

TEST(RecordLock, LockFromAnotherHostIsNotTakenOver) {
  const std::string rec = record_path();
  std::ofstream(lpt::RecordLock::lock_path(rec)) << 1 << " some-other-host\n";
  EXPECT_THROW(lpt::RecordLock refused(rec), lpt::Error);
  EXPECT_TRUE(fs::exists(lpt::RecordLock::lock_path(rec)));
  fs::remove(lpt::RecordLock::lock_path(rec));
}

TEST(RecordLock, NoRecordNoLock) { EXPECT_NO_THROW(lpt::RecordLock none("")); }

}  // namespace
