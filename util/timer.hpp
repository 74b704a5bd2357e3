#pragma once
// Steady-clock timing: Timer for one interval, Timers for named phases accumulated over a step
// (forward / backward / optimizer), ScopedTime to time a block.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace lpt {

class Timer {
 public:
  using Clock = std::chrono::steady_clock;
  Timer() : start_(Clock::now()) {}
  void reset() { start_ = Clock::now(); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  // Seconds since the last lap() (or construction/reset), and restarts.
  double lap() {
    const auto now = Clock::now();
    const double s = std::chrono::duration<double>(now - start_).count();
    start_ = now;
    return s;
  }

 private:
  Clock::time_point start_;
};

// Named accumulating timers: start("forward") ... stop("forward") any number of times, then
// seconds("forward") is the total and count("forward") the number of intervals.
class Timers {
 public:
  void start(const std::string& name) {
    Entry& e = entries_[name];
    require(!e.running, "timer '", name, "' started twice without stop()");
    e.running = true;
    e.since = Timer::Clock::now();
  }
  double stop(const std::string& name) {
    auto it = entries_.find(name);
    require(it != entries_.end() && it->second.running, "timer '", name,
            "' stopped without start()");
    Entry& e = it->second;
    const double s = std::chrono::duration<double>(Timer::Clock::now() - e.since).count();
    e.running = false;
    e.total += s;
    ++e.count;
    return s;
  }
  void add(const std::string& name, double seconds) {
    Entry& e = entries_[name];
    e.total += seconds;
    ++e.count;
  }
  double seconds(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? 0.0 : it->second.total;
  }
  long count(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? 0 : it->second.count;
  }
  // Totals in the order of `names` (e.g. for H5Record::append_row).
  std::vector<double> seconds(const std::vector<std::string>& names) const {
    std::vector<double> out;
    for (const auto& n : names) out.push_back(seconds(n));
    return out;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
  }
  void reset() { entries_.clear(); }

 private:
  struct Entry {
    double total = 0;
    long count = 0;
    bool running = false;
    Timer::Clock::time_point since;
  };
  std::map<std::string, Entry> entries_;
};

// { ScopedTime t(timers, "backward"); ... }
class ScopedTime {
 public:
  ScopedTime(Timers& t, std::string name) : t_(t), name_(std::move(name)) { t_.start(name_); }
  ~ScopedTime() { t_.stop(name_); }
  ScopedTime(const ScopedTime&) = delete;
  ScopedTime& operator=(const ScopedTime&) = delete;

 private:
  Timers& t_;
  std::string name_;
};

}  // namespace lpt
