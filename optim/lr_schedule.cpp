#include "optim/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "util/error.hpp"

namespace lpt {

LrKind parse_lr_kind(const std::string& name) {
  if (name == "constant") return LrKind::constant;
  if (name == "cosine") return LrKind::warmup_cosine;
  if (name == "linear") return LrKind::warmup_linear;
  fail("unknown learning-rate schedule '", name, "'; use constant, cosine or linear");
}

std::string to_string(LrKind kind) {
  switch (kind) {
    case LrKind::constant: return "constant";
    case LrKind::warmup_cosine: return "cosine";
    case LrKind::warmup_linear: return "linear";
  }
  return "unknown";
}

LrSchedule::LrSchedule(LrKind kind, double lr_max, double lr_min, std::int64_t warmup_steps,
                       std::int64_t total_steps)
    : kind_(kind), lr_max_(lr_max), lr_min_(lr_min), warmup_(warmup_steps), total_(total_steps) {
  require(std::isfinite(lr_max) && lr_max >= 0, "lr must be finite and >= 0, got ", lr_max);
  require(warmup_steps >= 0, "warmup steps must be >= 0, got ", warmup_steps);
  if (kind == LrKind::constant) return;
  require(std::isfinite(lr_min) && lr_min >= 0 && lr_min <= lr_max, "lr_min (", lr_min,
          ") must lie in [0, lr (", lr_max, ")] for the ", to_string(kind), " schedule");
  // total_steps <= warmup_steps is allowed (docs/config.md): the run ends inside the warmup and
  // never reaches the peak; lr() past the end then gives lr_min, the decay's end point.
}

double LrSchedule::lr(std::int64_t step) const {
  require(step >= 0, "learning-rate schedule asked for step ", step, "; steps are 0-based");
  if (step < warmup_)
    return lr_max_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
  if (kind_ == LrKind::constant) return lr_max_;
  const double p = total_ <= warmup_ ? 1.0
                                     : std::min(1.0, static_cast<double>(step - warmup_) /
                                                         static_cast<double>(total_ - warmup_));
  const double shape = kind_ == LrKind::warmup_cosine ? 0.5 * (1.0 + std::cos(M_PI * p)) : 1.0 - p;
  return lr_min_ + (lr_max_ - lr_min_) * shape;
}

}  // namespace lpt
