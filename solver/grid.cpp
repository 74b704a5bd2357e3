#include "solver/grid.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace lpt::mgrit {

Grid::Grid(long n_steps, const CycleOptions& opt, int npos, bool ceil_split) {
  require(n_steps >= 1, "MGRIT needs at least 1 time step, got ", n_steps);
  require(npos >= 1, "MGRIT needs at least 1 rank, got ", npos);
  levels_.push_back({n_steps, 0, 1});
  while (levels() < opt.max_levels()) {
    LevelGrid& f = levels_.back();
    const int m = opt.cfactor(levels() - 1);
    const long nc = f.n / m;
    if (nc < 1 || nc < opt.min_coarse()) break;
    f.m = m;
    levels_.push_back({nc, 0, f.stride * m});
  }
  const long most = max_positions();
  require(npos <= most, "MGRIT grid of ", n_steps, " steps (", levels(), " levels, ",
          levels() > 1 ? "fine intervals " : "steps ", most, ") can be split over 1..", most,
          " ranks, not ", npos, "; the largest valid rank count is ", most,
          " (or use a smaller cfactor, or more steps)");
  // The coarsest level with >= npos steps, at least level 1: blocks there keep every F-interval
  // of the finer levels inside one rank (the model in perfmodel/mgrit_cost.cpp splits the same).
  align_ = levels() > 1 ? 1 : 0;
  for (int l = align_ + 1; l < levels(); ++l)
    if (levels_[l].n >= npos) align_ = l;
  const long units = levels_[align_].n, unit = levels_[align_].stride;
  for (int q = 0; q <= npos; ++q) {
    const long u = ceil_split ? (long(q) * units + npos - 1) / npos : long(q) * units / npos;
    block_.push_back(q == npos ? n_steps + 1 : u * unit);
  }
}

// Point i of level l belongs to the position owning fine point i·stride: positions own
// [ceil(block/stride), ceil(next block/stride)), the last one up to n_l inclusive.
long Grid::lo(int level, int pos) const {
  const LevelGrid& g = levels_[level];
  return std::min((block_[pos] + g.stride - 1) / g.stride, g.n + 1);
}

long Grid::hi(int level, int pos) const {
  if (pos == npos() - 1) return levels_[level].n + 1;
  return lo(level, pos + 1);
}

int Grid::owner(int level, long i) const {
  for (int q = npos() - 1; q > 0; --q)
    if (i >= lo(level, q) && owns_any(level, q)) return q;
  return 0;
}

}  // namespace lpt::mgrit
