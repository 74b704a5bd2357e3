#pragma once
// One writer per record: while a run writes RECORD, RECORD.lock holds "pid hostname". A second
// run that would write the same record is refused with the first one's pid; a lock left by a run
// that was killed (SIGKILL leaves it behind; the record itself stays resumable) is recognised by
// its pid no longer running on this host and taken over. Locks from another host are never
// taken over: remove them by hand when that run is known to be gone.
#include <string>

namespace lpt {

class RecordLock {
 public:
  // Empty `record`: no lock. Throws lpt::Error when another live run holds it.
  explicit RecordLock(const std::string& record);
  ~RecordLock();
  RecordLock(const RecordLock&) = delete;
  RecordLock& operator=(const RecordLock&) = delete;

  const std::string& path() const { return path_; }
  static std::string lock_path(const std::string& record) { return record + ".lock"; }
  // The pid of a live process on this host that holds the lock of `record`; 0 when there is no
  // lock, or its writer is gone (a lock it would take over) or on another host.
  static long live_holder(const std::string& record);

 private:
  std::string path_;
  bool held_ = false;
};

}  // namespace lpt
