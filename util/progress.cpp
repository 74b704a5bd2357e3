#include "util/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace lpt {

ProgressField progress_field(const std::string& key, double value, int digits) {
  char buf[64];
  const double a = std::fabs(value);
  if (value != 0 && (a < 1e-3 || a >= 1e6)) {
    std::snprintf(buf, sizeof(buf), "%.*e", digits > 2 ? 2 : digits, value);
  } else {
    std::snprintf(buf, sizeof(buf), "%.*f", digits, value);
  }
  return {key, buf};
}

void RateEstimator::observe(long step, double elapsed_s) {
  if (last_step_ < 0) {
    // First sight: the average since the clock started.
    if (elapsed_s > 0 && step > start_step_) rate_ = (step - start_step_) / elapsed_s;
  } else if (step > last_step_ && elapsed_s > last_time_) {
    const double r = (step - last_step_) / (elapsed_s - last_time_);
    rate_ = rate_ > 0 ? alpha_ * r + (1 - alpha_) * rate_ : r;
  } else {
    return;  // no progress or no time passed: nothing to learn
  }
  last_step_ = step;
  last_time_ = elapsed_s;
}

double RateEstimator::eta(long step, long total) const {
  if (rate_ <= 0) return -1;
  return (total > step ? total - step : 0) / rate_;
}

std::string format_duration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "--:--";
  const long t = static_cast<long>(std::lround(s));
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", t / 60, t % 60);
  }
  return buf;
}

std::string format_rate(double r) {
  char buf[32];
  if (!std::isfinite(r) || r < 0) return "-";
  if (r >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM", r / 1e6);
  } else if (r >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.1fk", r / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", r);
  }
  return buf;
}

Progress::Progress(long total_steps, std::ostream& out)
    : Progress(total_steps, out, is_terminal(out)) {}

Progress::Progress(long total_steps, std::ostream& out, bool tty)
    : total_(total_steps), out_(out), tty_(tty) {}

Progress::~Progress() {
  if (tty_ && !live_.empty()) out_ << '\n' << std::flush;
}

bool Progress::is_terminal(const std::ostream& out) {
  if (&out == &std::cout) return ::isatty(STDOUT_FILENO) == 1;
  if (&out == &std::cerr || &out == &std::clog) return ::isatty(STDERR_FILENO) == 1;
  return false;
}

std::string Progress::format(long step, double loss, double lr, double items_per_s,
                             double elapsed_s, const std::vector<ProgressField>& extra) const {
  char head[128];
  const double pct = total_ > 0 ? 100.0 * step / total_ : 0.0;
  std::snprintf(head, sizeof(head), "step %ld/%ld (%.1f%%) | loss %.4f | lr %.2e", step, total_,
                pct, loss, lr);
  std::string line = head;
  line += " | " + format_rate(items_per_s) + " " + unit_;
  line += " | " + format_duration(elapsed_s) + " elapsed";
  line += " | eta " + format_duration(rate_.eta(step, total_));
  for (const auto& f : extra) line += " | " + f.key + " " + f.value;
  return line;
}

void Progress::draw(const std::string& line) {
  // Pad with spaces over what is left of a longer previous line instead of relying on ANSI codes.
  std::string padded = line;
  if (live_.size() > line.size()) padded.append(live_.size() - line.size(), ' ');
  out_ << '\r' << padded << std::flush;
  live_ = line;
}

void Progress::update(long step, double loss, double lr, double items_per_s, double elapsed_s,
                      const std::vector<ProgressField>& extra) {
  rate_.observe(step, elapsed_s);
  const bool last = step >= total_;
  if (tty_) {
    if (!last && elapsed_s - last_draw_ < redraw_s_) return;
    draw(format(step, loss, lr, items_per_s, elapsed_s, extra));
    last_draw_ = elapsed_s;
  } else if ((step % log_every_ == 0 || last) && step != last_printed_step_) {
    out_ << format(step, loss, lr, items_per_s, elapsed_s, extra) << '\n' << std::flush;
  }
  last_printed_step_ = step;
}

void Progress::message(const std::string& text) {
  if (tty_ && !live_.empty()) {
    std::string padded = text;
    if (live_.size() > text.size()) padded.append(live_.size() - text.size(), ' ');
    out_ << '\r' << padded << '\n' << live_ << std::flush;
  } else {
    out_ << text << '\n' << std::flush;
  }
}

void Progress::finish() {
  if (tty_ && !live_.empty()) {
    out_ << '\n' << std::flush;
    live_.clear();
  }
}

}  // namespace lpt
