#pragma once
// Learning-rate schedules as a pure function of the optimizer step index.
//
// Step indices are 0-based: lr(s) is the rate of the (s+1)-th call of Optimizer::step(), i.e.
// lr(opt.step_count()) taken just before the call (torch: the value LambdaLR has set when
// optimizer.step() runs for the (s+1)-th time, with scheduler.step() after each optimizer step).
//
//   constant:        s < W: lr_max (s+1)/W;  s >= W: lr_max   (total steps unused)
//   warmup_cosine:   s < W: lr_max (s+1)/W;  s >= W: lr_min + (lr_max - lr_min)(1 + cos(pi p))/2
//   warmup_linear:   s < W: lr_max (s+1)/W;  s >= W: lr_min + (lr_max - lr_min)(1 - p)
//   with p = min(1, (s - W)/(S - W)), W = warmup steps, S = total steps.
//
// Warmup reaches lr_max at s = W-1 and never uses a zero rate (Hugging Face's s/W wastes the first
// step on lr 0). The decay starts from lr_max at s = W and reaches lr_min at s = S; steps past S
// stay at lr_min, so a run may go on beyond its planned length.
#include <cstdint>
#include <string>

namespace lpt {

enum class LrKind { constant, warmup_cosine, warmup_linear };

// "constant", "cosine" (warmup_cosine) or "linear" (warmup_linear); throws lpt::Error otherwise.
LrKind parse_lr_kind(const std::string& name);
std::string to_string(LrKind kind);

class LrSchedule {
 public:
  LrSchedule() = default;
  // Checks lr_min <= lr_max for decaying kinds and throws lpt::Error; W >= S is allowed (the run
  // ends inside the warmup).
  LrSchedule(LrKind kind, double lr_max, double lr_min, std::int64_t warmup_steps,
             std::int64_t total_steps);

  double lr(std::int64_t step) const;

  LrKind kind() const { return kind_; }
  double lr_max() const { return lr_max_; }
  double lr_min() const { return lr_min_; }
  std::int64_t warmup_steps() const { return warmup_; }
  std::int64_t total_steps() const { return total_; }

 private:
  LrKind kind_ = LrKind::constant;
  double lr_max_ = 1e-3, lr_min_ = 0.0;
  std::int64_t warmup_ = 0, total_ = 0;
};

}  // namespace lpt
