#include "sweep/runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "sweep/summary.hpp"
#include "train/record_lock.hpp"
#include "util/error.hpp"
#include "util/h5record.hpp"
#include "util/progress.hpp"
#include "util/version.hpp"

extern char** environ;

namespace lpt {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int cores() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

// The children's environment: the parent's without the variables of its own MPI start (an MPI
// singleton sets OMPI_*, PMIX_* and PMI_*; a child `lpt train` seeing them would try to join the
// parent's job), plus OMP_NUM_THREADS sharing the cores among the processes running at once
// unless the user set it.
std::vector<std::string> child_environment(int processes) {
  std::vector<std::string> env;
  bool omp = false;
  for (char** e = environ; e && *e; ++e) {
    const std::string v = *e;
    if (v.rfind("OMPI_", 0) == 0 || v.rfind("PMIX_", 0) == 0 || v.rfind("PMI_", 0) == 0) continue;
    if (v.rfind("OMP_NUM_THREADS=", 0) == 0) omp = true;
    env.push_back(v);
  }
  if (!omp)
    env.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1, cores() / std::max(1, processes))));
  return env;
}

// fork + exec with stdout and stderr to `log`; the child dies with the sweep (SIGTERM when its
// parent goes, so a killed sweep leaves no orphans writing records).
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            const std::string& log) {
  std::vector<char*> a, e;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
  e.push_back(nullptr);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  require(fd >= 0, "cannot write the log '", log, "': ", std::strerror(errno));
  const pid_t parent = ::getpid();
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    fail("fork failed: ", std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the sweep died before prctl took effect
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::execvpe(a[0], a.data(), e.data());
    const std::string msg = std::string("lpt sweep: cannot run ") + a[0] + ": " +
                            std::strerror(errno) + "\n";
    if (::write(2, msg.data(), msg.size()) < 0) {}
    ::_exit(127);
  }
  ::close(fd);
  return pid;
}

// The last `n` non-empty lines of a file (its last 64 KiB).
std::vector<std::string> tail_lines(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return {};
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 65536);
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> lines;
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);) {
    // A live progress line redrawn with '\r' keeps only its last state.
    while (!line.empty() && line.back() == '\r') line.pop_back();
    const auto cr = line.rfind('\r');
    if (cr != std::string::npos) line = line.substr(cr + 1);
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

// The fraction done of a running point from the last "step N/M" of its log; -1 when none yet.
double fraction_from_log(const std::string& log) {
  const std::vector<std::string> lines = tail_lines(log, 40);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    const auto at = it->rfind("step ");
    if (at == std::string::npos) continue;
    long a = 0, b = 0;
    if (std::sscanf(it->c_str() + at, "step %ld/%ld", &a, &b) == 2 && b > 0)
      return static_cast<double>(a) / static_cast<double>(b);
  }
  return -1;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string quote_arg(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\"'\\$`!*?[](){};&|<>") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void write_json_atomic(const std::string& path, const json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << j.dump(1) << "\n";
    require(out.good(), "cannot write '", tmp, "'");
  }
  std::filesystem::rename(tmp, path);
}

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return nullptr;
  std::ostringstream s;
  s << in.rdbuf();
  try {
    return json::parse(s.str());
  } catch (const json::exception&) {
    return nullptr;
  }
}

struct Running {
  std::size_t index;
  pid_t pid;
  Clock::time_point t0;
};

// The sweep-level progress line and the per-point messages.
class SweepLine {
 public:
  SweepLine(std::ostream& out, bool tty, int total) : out_(out), tty_(tty), total_(total) {}

  void message(const std::string& m) {
    clear();
    out_ << m << "\n";
    out_.flush();
    drawn_ = false;
  }

  void draw(int done, int running, int failed, int queued, double elapsed, double eta) {
    std::ostringstream s;
    s << "sweep " << done << "/" << total_ << " done | " << running << " running | " << failed
      << " failed | " << queued << " queued | " << format_duration(elapsed) << " elapsed | eta "
      << format_duration(eta);
    if (tty_) {
      clear();
      out_ << s.str();
      width_ = s.str().size();
      drawn_ = true;
    } else {
      out_ << s.str() << "\n";
    }
    out_.flush();
  }

  void finish() {
    if (tty_ && drawn_) out_ << "\n";
    drawn_ = false;
    out_.flush();
  }

 private:
  void clear() {
    if (tty_ && drawn_) out_ << "\r" << std::string(width_, ' ') << "\r";
  }
  std::ostream& out_;
  bool tty_;
  int total_;
  bool drawn_ = false;
  std::size_t width_ = 0;
};

}  // namespace

std::vector<std::string> mpirun_flags(int jobs, int ranks) {
  std::vector<std::string> f;
  if (::geteuid() == 0) f.push_back("--allow-run-as-root");
  if (static_cast<long>(jobs) * ranks > cores()) f.push_back("--oversubscribe");
  if (jobs > 1) {
    f.push_back("--bind-to");
    f.push_back("none");
  }
  return f;
}

bool point_runs_alone(const RunConfig& c) {
  return c.solver.mode == SolverMode::serial && c.train.data_groups == 1;
}

std::vector<std::string> point_command(const SweepSpec& spec, const SweepPoint& p,
                                       const SweepOptions& o, bool serial) {
  std::vector<std::string> cmd;
  if (o.mpi > 1 && !serial) {
    cmd = o.mpirun;
    const auto flags = mpirun_flags(o.jobs, o.mpi);
    cmd.insert(cmd.end(), flags.begin(), flags.end());
    cmd.push_back("-np");
    cmd.push_back(std::to_string(o.mpi));
  }
  cmd.push_back(o.lpt);
  cmd.push_back("train");
  if (!spec.base.empty()) {
    cmd.push_back("--config");
    cmd.push_back(spec.base);
  }
  for (const std::string& s : point_sets(spec, p, o.out_dir)) {
    cmd.push_back("--set");
    cmd.push_back(s);
  }
  return cmd;
}

SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& o) {
  require(!o.out_dir.empty(), "lpt sweep: no output directory (give -o DIR or \"out\" in the spec)");
  require(o.jobs >= 1, "lpt sweep: jobs must be at least 1");
  require(!o.lpt.empty(), "lpt sweep: the lpt executable is unknown");
  std::ostream& out = o.out ? *o.out : std::cout;
  const bool tty = o.tty < 0 ? Progress::is_terminal(out) : o.tty == 1;
  const std::string dir = o.out_dir;
  const Clock::time_point t0 = Clock::now();

  // Every point's config is checked before anything runs: a typo fails now, not N times.
  const std::vector<SweepPoint> points = expand_sweep(spec);
  std::vector<RunConfig> configs;
  for (const SweepPoint& p : points) configs.push_back(resolve_point(spec, p, dir));
  std::vector<std::vector<std::string>> commands;
  for (std::size_t i = 0; i < points.size(); ++i)
    commands.push_back(point_command(spec, points[i], o, point_runs_alone(configs[i])));

  // What is there already.
  std::vector<RecordCheck> checks;
  std::vector<std::string> stale;
  for (std::size_t i = 0; i < points.size(); ++i) {
    checks.push_back(check_record(point_record(dir, points[i]), configs[i].resolved));
    if (checks.back().state == RecordState::stale)
      stale.push_back(point_record(dir, points[i]) + " (" + checks.back().why + ")");
  }
  require(stale.empty(), "lpt sweep: ", stale.size(), " record(s) in ", dir, " were written with "
          "another config than the spec gives their points now: ", join(stale, "; "),
          ". Remove them to rerun those points, or sweep into another directory (-o)");

  SweepOutcome res;
  res.points = static_cast<int>(points.size());
  if (o.dry_run) {
    for (std::size_t i = 0; i < points.size(); ++i) {
      std::vector<std::string> q;
      for (const auto& a : commands[i]) q.push_back(quote_arg(a));
      out << points[i].name << "  [" << to_string(checks[i].state)
          << (checks[i].why.empty() ? "" : ": " + checks[i].why) << "]\n  " << join(q, " ")
          << "\n";
      if (checks[i].state == RecordState::finished) ++res.skipped;
    }
    out << points.size() << " points, " << res.skipped << " finished, "
        << points.size() - static_cast<std::size_t>(res.skipped) << " to run (dry run: none "
        << "started)\n";
    return res;
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  require(std::filesystem::is_directory(dir), "lpt sweep: cannot create the output directory '",
          dir, "'", ec ? ": " + ec.message() : "");

  // One sweep per directory at a time (a lock of a killed sweep is taken over).
  std::unique_ptr<RecordLock> lock;
  try {
    lock = std::make_unique<RecordLock>(dir + "/sweep");
  } catch (const Error&) {
    fail("lpt sweep: another lpt sweep is running into ", dir, " (pid ",
         RecordLock::live_holder(dir + "/sweep"), ", lock ", dir,
         "/sweep.lock); wait for it, or stop it and run this again to resume");
  }

  json manifest = {{"spec_file", spec.source}, {"spec", spec.raw}, {"base", spec.base},
                   {"axes", sweep_axis_keys(spec)}, {"lpt_version", version()},
                   {"points", json::array()}};
  for (std::size_t i = 0; i < points.size(); ++i) {
    json values = json::object();
    for (const auto& [k, v] : points[i].values) values[k] = v;
    manifest["points"].push_back(
        {{"name", points[i].name}, {"values", values}, {"command", commands[i]}});
  }
  write_json_atomic(dir + "/sweep.json", manifest);

  const std::string status_path = dir + "/sweep_status.json";
  json status = read_json(status_path);
  if (!status.is_object() || !status.contains("points") || !status["points"].is_object())
    status = {{"points", json::object()}};
  auto save_status = [&] {
    status["updated"] = H5Record::utc_now_iso8601();
    write_json_atomic(status_path, status);
  };

  std::vector<std::size_t> queue;
  int done_count = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    json& st = status["points"][points[i].name];
    if (checks[i].state == RecordState::finished) {
      ++res.skipped;
      ++done_count;
      st["state"] = "done";
      continue;
    }
    if (checks[i].state == RecordState::running) {
      // Someone else (an `lpt train` by hand) writes this record: leave it alone.
      ++res.failed;
      st["state"] = "failed";
      st["error"] = point_record(dir, points[i]) + " is " + checks[i].why + " outside this sweep";
      continue;
    }
    st["state"] = "queued";
    queue.push_back(i);
  }
  save_status();

  SweepLine line(out, tty, res.points);
  out << "lpt sweep: " << points.size() << " points into " << dir << ": " << res.skipped
      << " finished earlier, " << queue.size() << " to run, " << o.jobs << " at once"
      << (o.mpi > 1 ? ", each on " + std::to_string(o.mpi) + " MPI ranks" : "") << "\n";

  std::vector<Running> running;
  std::vector<double> durations;  // of points that finished in this sweep
  std::size_t next = 0;
  double last_draw = -1e300;
  auto eta = [&]() -> double {
    double mean_s = -1;
    if (!durations.empty()) {
      double s = 0;
      for (double d : durations) s += d;
      mean_s = s / static_cast<double>(durations.size());
    }
    double work = 0;  // seconds of one job slot
    for (const Running& r : running) {
      const double el = seconds_since(r.t0);
      const double f = fraction_from_log(point_log(dir, points[r.index]));
      double total = f > 0.02 ? el / f : mean_s;
      if (total < 0) return -1;
      if (mean_s < 0 && f > 0.02) mean_s = total;
      work += std::max(0.0, total - el);
    }
    const double queued = static_cast<double>(queue.size() - next);
    if (queued > 0 && mean_s < 0) return -1;
    if (queued > 0) work += queued * mean_s;
    return work / std::min<double>(o.jobs, std::max<double>(1, running.size() + queued));
  };
  auto draw = [&] {
    line.draw(done_count, static_cast<int>(running.size()), res.failed,
              static_cast<int>(queue.size() - next), seconds_since(t0), eta());
    last_draw = seconds_since(t0);
  };
  const std::vector<std::string> env_mpi = child_environment(o.jobs * std::max(1, o.mpi));
  const std::vector<std::string> env_one = child_environment(o.jobs);

  draw();
  while (next < queue.size() || !running.empty()) {
    bool changed = false;
    while (running.size() < static_cast<std::size_t>(o.jobs) && next < queue.size()) {
      const std::size_t i = queue[next++];
      const SweepPoint& p = points[i];
      // A partial record (and its checkpoint) from a failed or killed attempt: start over.
      std::filesystem::remove(point_record(dir, p), ec);
      std::filesystem::remove(point_checkpoint(dir, p), ec);
      const bool serial = point_runs_alone(configs[i]);
      const pid_t pid = spawn(commands[i], serial || o.mpi <= 1 ? env_one : env_mpi,
                              point_log(dir, p));
      running.push_back({i, pid, Clock::now()});
      ++res.ran;
      json& st = status["points"][p.name];
      st["state"] = "running";
      st["started"] = H5Record::utc_now_iso8601();
      st["pid"] = pid;
      st["attempts"] = st.value("attempts", 0) + 1;
      st["log"] = point_log(dir, p);
      st.erase("error");
      st.erase("exit_code");
      st.erase("signal");
      st.erase("wall_s");
      line.message("started " + p.name + " (pid " + std::to_string(pid) + ", log " +
                   point_log(dir, p) + ")");
      changed = true;
    }
    if (changed) save_status();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (auto it = running.begin(); it != running.end();) {
      int ws = 0;
      const pid_t r = ::waitpid(it->pid, &ws, WNOHANG);
      if (r == 0) {
        ++it;
        continue;
      }
      const SweepPoint& p = points[it->index];
      const double wall = seconds_since(it->t0);
      json& st = status["points"][p.name];
      st.erase("pid");
      st["ended"] = H5Record::utc_now_iso8601();
      st["wall_s"] = wall;
      std::string why;
      if (r < 0) {
        why = std::string("waitpid failed: ") + std::strerror(errno);
      } else if (WIFEXITED(ws)) {
        st["exit_code"] = WEXITSTATUS(ws);
        if (WEXITSTATUS(ws) != 0) why = "exit " + std::to_string(WEXITSTATUS(ws));
      } else if (WIFSIGNALED(ws)) {
        st["signal"] = WTERMSIG(ws);
        st["exit_code"] = 128 + WTERMSIG(ws);
        why = std::string("killed by signal ") + std::to_string(WTERMSIG(ws)) + " (" +
              strsignal(WTERMSIG(ws)) + ")";
      }
      const RecordCheck c = check_record(point_record(dir, p), configs[it->index].resolved);
      if (why.empty() && c.state != RecordState::finished)
        why = "exited 0 but its record is " + std::string(to_string(c.state)) +
              (c.why.empty() ? "" : " (" + c.why + ")");
      const std::vector<std::string> tail = tail_lines(point_log(dir, p), 20);
      if (why.empty()) {
        st["state"] = "done";
        st.erase("log_tail");
        durations.push_back(wall);
        ++res.done;
        ++done_count;
        std::string said;  // lpt train's closing "done: N steps in ...; val loss ..." line
        for (const std::string& l : tail)
          if (l.rfind("done:", 0) == 0) said = l.substr(5);
        line.message("done " + p.name + " in " + format_duration(wall) +
                     (said.empty() ? "" : ":" + said));
      } else {
        const std::vector<std::string> last3(
            tail.end() - static_cast<std::ptrdiff_t>(std::min<std::size_t>(3, tail.size())),
            tail.end());
        st["state"] = "failed";
        st["error"] = why + (last3.empty() ? "" : ": " + join(last3, " | "));
        st["log_tail"] = tail;
        ++res.failed;
        line.message("FAILED " + p.name + " (" + why + "): " +
                     (tail.empty() ? "no output" : tail.back()) + "; log " + point_log(dir, p));
      }
      it = running.erase(it);
      changed = true;
    }
    if (changed) {
      save_status();
      draw();
    } else if (seconds_since(t0) - last_draw > (tty ? 1.0 : 60.0)) {
      draw();
    }
  }
  line.finish();
  res.wall_seconds = seconds_since(t0);
  write_sweep_summary(dir);
  out << "lpt sweep: " << done_count << "/" << res.points << " points done (" << res.skipped
      << " earlier, " << res.done << " now), " << res.failed << " failed, in "
      << format_duration(res.wall_seconds) << "; summary " << dir << "/summary.csv and " << dir
      << "/summary.h5" << (res.failed ? "; failures in " + dir + "/sweep_status.json" : "")
      << "\n";
  return res;
}

}  // namespace lpt
