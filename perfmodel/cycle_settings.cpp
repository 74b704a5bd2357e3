#include "perfmodel/cycle_settings.hpp"

namespace lpt::perf {
namespace {

// Per coarsening l < levels - 1: the factor and the relaxation of level l (the coarsest level is
// solved exactly, its relaxation never runs).
void cycle_of(const mgrit::CycleOptions& o, int& levels, std::vector<int>& cfactor,
              std::vector<Relax>& relax, bool& skip) {
  levels = o.max_levels();
  cfactor.clear();
  relax.clear();
  for (int l = 0; l + 1 < levels; ++l) {
    cfactor.push_back(o.cfactor(l));
    relax.push_back(o.relax(l));
  }
  if (cfactor.empty()) cfactor.push_back(o.cfactor(0));  // unused with one level
  skip = o.skip();
}

}  // namespace

MgritSettings settings_of(const mgrit::CycleOptions& fwd, const mgrit::CycleOptions& bwd) {
  MgritSettings s;
  cycle_of(fwd, s.levels, s.cfactor, s.relax, s.skip_first_down);
  s.fwd_iters = fwd.max_iter();
  s.bwd_iters = bwd.max_iter();
  s.store_tapes = false;
  MgritSettings::AdjointCycle a;
  cycle_of(bwd, a.levels, a.cfactor, a.relax, a.skip_first_down);
  const bool same = a.levels == s.levels && a.cfactor == s.cfactor && a.relax == s.relax &&
                    a.skip_first_down == s.skip_first_down;
  if (!same) s.adjoint = a;
  return s;
}

mgrit::CycleOptions cycle_options(const MgritSettings& settings, bool adjoint, int iterations) {
  const MgritSettings s = adjoint ? settings.adjoint_settings() : settings;
  mgrit::CycleOptions o;
  o.set_max_levels(s.levels);
  for (int l = 0; l + 1 < s.levels; ++l) {
    o.set_cfactor(l, s.cf(l));
    o.set_relax(l, s.rx(l));
  }
  o.set_skip(s.skip_first_down);
  o.set_abs_tol(0);
  o.set_rel_tol(0);
  o.set_max_iter(iterations);
  return o;
}

}  // namespace lpt::perf
