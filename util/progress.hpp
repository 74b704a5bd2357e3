#pragma once
// The training progress line. On a terminal: one live line redrawn in place with '\r'. Otherwise
// (a log file, a pipe, CI): one plain line every log_every steps. Either way the line reads
//
//   step 100/1500 (6.7%) | loss 4.1234 | lr 1.00e-03 | 12.3k tok/s | 1:23 elapsed | eta 19:36
//
// followed by any extra fields ("| mode serial | mgrit_it 3"). The ETA divides the remaining steps
// by an exponentially smoothed step rate, so one slow step (an evaluation, a checkpoint) does not
// swing it.
//
//   Progress p(cfg.train.steps, std::cout);           // terminal detected from the stream
//   p.set_log_every(cfg.output.log_every);
//   p.update(step, loss, lr, tokens_per_s, elapsed, {{"mode", "serial"}});
//   p.message("eval: loss 3.91 ppl 49.9");            // a line that stays above the live line
//   p.finish();
#include <ostream>
#include <string>
#include <vector>

namespace lpt {

struct ProgressField {
  std::string key, value;
};

// A number as a field value: fixed with `digits` decimals, or scientific for tiny/huge values.
ProgressField progress_field(const std::string& key, double value, int digits = 4);

// Steps per second, exponentially smoothed over observations (alpha = weight of the newest).
class RateEstimator {
 public:
  explicit RateEstimator(double alpha = 0.2) : alpha_(alpha) {}
  // The step count when the elapsed clock read 0 (a resumed run starts at its checkpoint's step).
  void set_start_step(long step) { start_step_ = step; }
  void observe(long step, double elapsed_s);
  double steps_per_second() const { return rate_; }
  // Seconds until `total` steps at the smoothed rate; < 0 while no rate is known.
  double eta(long step, long total) const;

 private:
  double alpha_;
  double rate_ = 0;
  long start_step_ = 0;
  long last_step_ = -1;
  double last_time_ = 0;
};

// "0:07", "12:05", "1:02:03"; "--:--" for negative or non-finite values.
std::string format_duration(double seconds);
// "532", "12.3k", "4.56M"
std::string format_rate(double per_second);

class Progress {
 public:
  Progress(long total_steps, std::ostream& out);             // tty = is_terminal(out)
  Progress(long total_steps, std::ostream& out, bool tty);  // forced (tests, --no-tty)
  ~Progress();

  // True for std::cout / std::cerr / std::clog attached to a terminal.
  static bool is_terminal(const std::ostream& out);

  void set_log_every(long steps) { log_every_ = steps < 1 ? 1 : steps; }
  void set_unit(std::string unit) { unit_ = std::move(unit); }  // "tok/s" (default), "img/s"
  void set_redraw_interval(double seconds) { redraw_s_ = seconds; }  // tty only, default 0.1 s
  // A resumed run: the step it resumes from, where its elapsed clock starts (else the first rate
  // would count the steps done before the resume).
  void set_start_step(long step) { rate_.set_start_step(step); }

  // `step` = steps completed (1..total); elapsed_s since training started.
  void update(long step, double loss, double lr, double items_per_s, double elapsed_s,
              const std::vector<ProgressField>& extra = {});
  void message(const std::string& text);
  void finish();

  // The line for the given values at the current ETA (no output).
  std::string format(long step, double loss, double lr, double items_per_s, double elapsed_s,
                     const std::vector<ProgressField>& extra) const;
  const RateEstimator& rate() const { return rate_; }

 private:
  void draw(const std::string& line);

  long total_;
  std::ostream& out_;
  bool tty_;
  long log_every_ = 10;
  std::string unit_ = "tok/s";
  double redraw_s_ = 0.1;
  double last_draw_ = -1e300;
  long last_printed_step_ = -1;
  RateEstimator rate_;
  std::string live_;  // the line on screen (tty)
};

}  // namespace lpt
