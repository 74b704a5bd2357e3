#include "solver/grid.hpp"

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
  const long nc = levels_.back().n;
  require(npos <= nc, "MGRIT grid of ", n_steps, " steps has ", nc, " steps on its coarsest level (",
          levels(), " levels); it can be split over 1..", nc, " ranks, not ", npos,
          "; use fewer ranks, fewer levels, a smaller cfactor or more steps");
  for (int q = 0; q <= npos; ++q)
    block_.push_back(ceil_split ? (long(q) * nc + npos - 1) / npos : long(q) * nc / npos);
}

static long coarsest_span(const std::vector<LevelGrid>& lv, int level) {
  return lv.back().stride / lv[level].stride;
}

long Grid::lo(int level, int pos) const { return block_[pos] * coarsest_span(levels_, level); }

long Grid::hi(int level, int pos) const {
  if (pos == npos() - 1) return levels_[level].n + 1;
  return block_[pos + 1] * coarsest_span(levels_, level);
}

int Grid::owner(int level, long i) const {
  for (int q = npos() - 1; q > 0; --q)
    if (i >= lo(level, q)) return q;
  return 0;
}

}  // namespace lpt::mgrit
