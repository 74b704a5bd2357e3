#include "solver/options.hpp"

#include "util/error.hpp"

namespace lpt::mgrit {

const char* to_string(Relax r) { return r == Relax::F ? "F" : "FCF"; }
const char* to_string(Cycle c) { return c == Cycle::V ? "V" : "F"; }

Relax parse_relax(const std::string& s) {
  if (s == "F" || s == "f") return Relax::F;
  if (s == "FCF" || s == "fcf") return Relax::FCF;
  fail("unknown relaxation '", s, "'; use F or FCF");
}
Cycle parse_cycle(const std::string& s) {
  if (s == "V" || s == "v") return Cycle::V;
  if (s == "F" || s == "f") return Cycle::F;
  fail("unknown cycle '", s, "'; use V or F");
}

void CycleOptions::set_max_levels(int n) {
  require(n >= 1, "MGRIT max levels must be >= 1, got ", n, " (1 = sequential stepping)");
  max_levels_ = n;
}
void CycleOptions::set_cfactor(int cf) {
  require(cf >= 2, "MGRIT coarsening factor must be >= 2, got ", cf);
  cfactor_ = cf;
  level_cfactor_.clear();
}
void CycleOptions::set_cfactor(int level, int cf) {
  require(level >= 0, "MGRIT cfactor level must be >= 0, got ", level);
  require(cf >= 2, "MGRIT coarsening factor must be >= 2, got ", cf, " on level ", level);
  if (int(level_cfactor_.size()) <= level) level_cfactor_.resize(level + 1, 0);
  level_cfactor_[level] = cf;
}
int CycleOptions::cfactor(int level) const {
  if (level < int(level_cfactor_.size()) && level_cfactor_[level] > 0) return level_cfactor_[level];
  return cfactor_;
}
void CycleOptions::set_min_coarse(long n) {
  require(n >= 1, "MGRIT min coarse size must be >= 1 step, got ", n);
  min_coarse_ = n;
}
void CycleOptions::set_relax(Relax r) { relax_ = r; }
void CycleOptions::set_fine_relax(Relax r) { fine_relax_ = r; }
void CycleOptions::set_relax(int level, Relax r) {
  require(level >= 0, "MGRIT relaxation level must be >= 0, got ", level);
  if (int(level_relax_.size()) <= level) level_relax_.resize(level + 1, -1);
  level_relax_[level] = int(r);
}
Relax CycleOptions::relax(int level) const {
  if (level < int(level_relax_.size()) && level_relax_[level] >= 0)
    return Relax(level_relax_[level]);
  return level == 0 ? fine_relax_ : relax_;
}
void CycleOptions::set_cycle(Cycle c) { cycle_ = c; }
void CycleOptions::set_skip(bool s) { skip_ = s; }
void CycleOptions::set_abs_tol(double t) {
  require(t >= 0, "MGRIT absolute tolerance must be >= 0 (0 = off), got ", t);
  abs_tol_ = t;
}
void CycleOptions::set_rel_tol(double t) {
  require(t >= 0, "MGRIT relative tolerance must be >= 0 (0 = off), got ", t);
  rel_tol_ = t;
}
void CycleOptions::set_max_iter(int n) {
  require(n >= 0, "MGRIT max iterations must be >= 0, got ", n);
  max_iter_ = n;
}
void CycleOptions::set_storage(Storage s) { storage_ = s; }

}  // namespace lpt::mgrit
