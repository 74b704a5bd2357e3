#include "train/record_lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.hpp"

namespace lpt {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

// Creates the lock file atomically (O_EXCL); false if it exists.
bool try_create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    require(errno == EEXIST, "cannot create the record lock '", path, "': ", std::strerror(errno),
            "; check that the record's directory is writable");
    return false;
  }
  const std::string text = std::to_string(::getpid()) + " " + host_name() + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  require(ok, "cannot write the record lock '", path, "'");
  return true;
}

// A killed process stays a zombie until its parent reaps it, and kill(pid, 0) still succeeds.
bool running(long pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: trust kill()
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

}  // namespace

RecordLock::RecordLock(const std::string& record) {
  if (record.empty()) return;
  path_ = lock_path(record);
  std::error_code ec;
  const auto dir = std::filesystem::path(path_).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (try_create(path_)) {
      held_ = true;
      return;
    }
    long pid = 0;
    std::string host;
    std::ifstream(path_) >> pid >> host;
    const bool here = host == host_name();
    const bool alive = running(pid);
    require(!(here && alive) && !(!here && !host.empty()), "output.file '", record,
            "' is being written by another run (pid ", pid, " on ", host.empty() ? "?" : host,
            ", lock ", path_, "); two runs cannot share a record. Wait for it, or choose another "
            "output.file", here ? "" : " (if that run is gone, remove the lock file)");
    // A dead writer on this host (or an empty lock from a crash while writing it): take over.
    std::remove(path_.c_str());
  }
  fail("cannot take the record lock '", path_, "': another run keeps recreating it");
}

long RecordLock::live_holder(const std::string& record) {
  long pid = 0;
  std::string host;
  std::ifstream(lock_path(record)) >> pid >> host;
  return host == host_name() && running(pid) ? pid : 0;
}

RecordLock::~RecordLock() {
  if (held_) std::remove(path_.c_str());
}

}  // namespace lpt
