#pragma once
// Cycle options of one MGRIT solve (forward or adjoint each have their own), set by setters and
// checked when set: a bad value is an lpt::Error naming the option and the fix.
#include <string>
#include <vector>

namespace lpt::mgrit {

enum class Relax { F, FCF };
enum class Cycle { V, F };
enum class Storage { all, c_points };  // finest level: keep every point, or C-points only

const char* to_string(Relax r);
const char* to_string(Cycle c);
Relax parse_relax(const std::string& s);
Cycle parse_cycle(const std::string& s);

class CycleOptions {
 public:
  void set_max_levels(int n);
  void set_cfactor(int cf);             // every level
  void set_cfactor(int level, int cf);  // one level (its coarsening to level + 1)
  void set_min_coarse(long n);          // no level with fewer steps than this is made
  void set_relax(Relax r);              // coarse levels
  void set_fine_relax(Relax r);         // finest level
  void set_relax(int level, Relax r);   // one level (overrides the two above)
  void set_cycle(Cycle c);
  void set_skip(bool s);                // skip all work of the first down-cycle
  void set_abs_tol(double t);           // stop when ||r|| <= abs_tol (0: off)
  void set_rel_tol(double t);           // stop when ||r|| <= rel_tol * ||r_first|| (0: off)
  void set_max_iter(int n);             // iterations (cycles); a fixed count when tols are 0
  void set_storage(Storage s);

  int max_levels() const { return max_levels_; }
  int cfactor(int level) const;
  long min_coarse() const { return min_coarse_; }
  Relax relax(int level) const;
  Cycle cycle() const { return cycle_; }
  bool skip() const { return skip_; }
  double abs_tol() const { return abs_tol_; }
  double rel_tol() const { return rel_tol_; }
  int max_iter() const { return max_iter_; }
  Storage storage() const { return storage_; }

 private:
  int max_levels_ = 2;
  int cfactor_ = 2;
  std::vector<int> level_cfactor_;  // 0 = use cfactor_
  std::vector<int> level_relax_;    // -1 = use fine_relax_ / relax_
  long min_coarse_ = 1;
  Relax relax_ = Relax::FCF;
  Relax fine_relax_ = Relax::F;
  Cycle cycle_ = Cycle::V;
  bool skip_ = false;
  double abs_tol_ = 1e-10;
  double rel_tol_ = 0;
  int max_iter_ = 20;
  Storage storage_ = Storage::all;
};

}  // namespace lpt::mgrit
