#pragma once
// The MGRIT level hierarchy and its split over ranks. Level l has points 0..n_l; point i of level
// l+1 is point i·m_l of level l (trailing points past the last multiple are F-points).
//
// Ranks ("positions", in time order) own contiguous blocks of the finest points. The blocks are
// made of whole steps of the "alignment level": the coarsest level with at least as many steps
// as positions, and at least level 1 (level 0 when there is only one level). On that level and
// every finer one a block starts at a C-point, so no F-interval there spans two ranks. Coarser
// levels are not split on their own: a point of level l belongs to the rank that owns the fine
// point under it (as in XBraid), so there an F-interval may run through several ranks and a rank
// may own no point at all. Up to n_1 (the fine level's intervals) positions fit.
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
  // Throws lpt::Error when npos does not fit (valid counts: 1..max_positions()). Blocks split the
  // alignment level's steps as floor(q·n_a/P); `ceil_split` uses ceil(q·n_a/P) instead, the
  // mirror image, so that an adjoint grid (reversed time) gives each rank the same layers.
  Grid(long n_steps, const CycleOptions& opt, int npos, bool ceil_split = false);
  Grid() = default;

  int levels() const { return int(levels_.size()); }
  const LevelGrid& level(int l) const { return levels_[l]; }
  int npos() const { return int(block_.size()) - 1; }
  int alignment_level() const { return align_; }
  // The most positions this hierarchy can be split over: n_1 (n_0 with one level).
  long max_positions() const { return levels_[levels() > 1 ? 1 : 0].n; }
  // Points [lo, hi) of `level` owned by position `pos` (lo == hi: none).
  long lo(int level, int pos) const;
  long hi(int level, int pos) const;
  bool owns_any(int level, int pos) const { return lo(level, pos) < hi(level, pos); }
  // The position owning point `i` of `level`.
  int owner(int level, long i) const;

 private:
  std::vector<LevelGrid> levels_;
  std::vector<long> block_;  // finest point where each position's block begins; +end
  int align_ = 0;
};

}  // namespace lpt::mgrit
