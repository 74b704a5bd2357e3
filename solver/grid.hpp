#pragma once
// The MGRIT level hierarchy and its split over ranks. Level l has points 0..n_l; point i of level
// l+1 is point i·m_l of level l (trailing points past the last multiple are F-points). Ranks
// ("positions", in time order) own contiguous blocks of coarsest-level intervals, so every block
// starts at a point that is a C-point on every level.
#include <vector>

#include "solver/options.hpp"

namespace lpt::mgrit {

struct LevelGrid {
  long n = 0;       // steps on this level (points 0..n)
  int m = 0;        // coarsening factor to the next level (0 on the coarsest)
  long stride = 1;  // fine steps per step of this level
};

class Grid {
 public:
  // Throws lpt::Error when npos does not fit (valid counts: 1..coarsest steps). Blocks split the
  // coarsest intervals as floor(q·nc/P); `ceil_split` uses ceil(q·nc/P) instead, the mirror
  // image, so that an adjoint grid (reversed time) gives each rank the same layers.
  Grid(long n_steps, const CycleOptions& opt, int npos, bool ceil_split = false);
  Grid() = default;

  int levels() const { return int(levels_.size()); }
  const LevelGrid& level(int l) const { return levels_[l]; }
  int npos() const { return int(block_.size()) - 1; }
  // Points [lo, hi) of `level` owned by position `pos`.
  long lo(int level, int pos) const;
  long hi(int level, int pos) const;
  // The position owning point `i` of `level`.
  int owner(int level, long i) const;

 private:
  std::vector<LevelGrid> levels_;
  std::vector<long> block_;  // coarsest-level point where each position's block begins; +end
};

}  // namespace lpt::mgrit
