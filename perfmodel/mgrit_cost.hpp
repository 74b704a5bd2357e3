#pragma once
// Critical-path time of one MGRIT solve (XBraid semantics: FAS V-cycles, F or FCF relaxation per
// level, injection, serial coarsest level, fixed iteration count) over a chain of steps whose
// times may differ, distributed over P ranks in contiguous blocks aligned to coarse points.
// Bulk-synchronous model: each phase (a relaxation sweep, a restriction, an interpolation) ends
// when its slowest rank ends, plus one neighbour message when the phase needs a value from the
// previous rank. Derivation and assumptions: docs/perfmodel.md §2.
#include <string>
#include <vector>

#include "perfmodel/hardware.hpp"
#include "solver/options.hpp"

namespace lpt::perf {

using Relax = mgrit::Relax;  // the solver's own (one definition)

struct MgritSettings {
  int levels = 2;
  std::vector<int> cfactor = {4};  // per coarsening 0..levels-2; the last value repeats
  std::vector<Relax> relax;        // per level 0..levels-2; empty: F on level 0, FCF coarser
  int fwd_iters = 2;
  int bwd_iters = 1;
  bool skip_first_down = true;  // XBraid skip: the first iteration starts on the coarsest level
  bool store_tapes = false;     // fine adjoint steps reuse forward tapes instead of recomputing
  // Memory: the forward's final sweep keeps each owned layer's tape for the adjoint (lpt's
  // layer-parallel step does), whether or not the time above prices their reuse (store_tapes).
  bool keep_tapes = true;
  // The adjoint's own cycle, where it differs from the forward's (lpt's trainer configures each
  // solve from its own config section). levels 0: the adjoint runs the fields above.
  struct AdjointCycle {
    int levels = 0;
    std::vector<int> cfactor = {4};
    std::vector<Relax> relax;
    bool skip_first_down = true;
  } adjoint;

  int cf(int l) const;
  Relax rx(int l) const;
  // The settings the adjoint solve runs with: these, with `adjoint`'s cycle when it is set.
  MgritSettings adjoint_settings() const;
  std::string describe() const;  // "L3 m4 F/FCF it2/1", the adjoint's cycle after " | bwd "
};

// Where each level's steps live. Level l step j covers fine steps [j·stride[l], (j+1)·stride[l]);
// level l+1 has floor(steps[l] / cfactor[l]) steps (XBraid: the C-points are the multiples of m).
struct Hierarchy {
  int levels = 1;
  std::vector<int> steps;
  std::vector<int> stride;
  std::vector<int> cfactor;
  int ranks = 1;                // ranks that own at least one fine step
  std::vector<int> fine_owner;  // rank owning fine step n
  int owner(int l, int j) const { return fine_owner[static_cast<size_t>(j) * stride[l]]; }
  // Owner of level-l point i (point i starts step i; the end point belongs to the last step).
  int point_owner(int l, int i) const { return owner(l, i < steps[l] ? i : steps[l] - 1); }
};

// The most ranks that own layers under this setting: level 1's steps, the fine level's intervals
// (N with one level). Blocks are whole steps of a level >= 1, as solver/grid.hpp splits them.
int max_ranks(int N, const MgritSettings& s);
// Empty string when (N, settings) gives a usable hierarchy, else why not.
std::string hierarchy_problem(int N, const MgritSettings& s);
// Blocks are aligned to the coarsest level that still has >= P steps (at least to level 1), so
// no F-interval on the finer levels spans two ranks. Ranks beyond the number of blocks stay idle.
// The units are split as solver/grid.cpp splits them: rank q starts at floor(q·units/P) (the
// forward solve), or at ceil(q·units/P) with `ceil_split` (the adjoint, in its reversed time);
// steps past the last unit belong to the last rank.
Hierarchy build_hierarchy(int N, int P, const MgritSettings& s, bool ceil_split = false);

struct Network {
  Link intra, inter;
  int ranks_per_node = 1;
  double message_bytes = 0;  // one state
  // The link between ranks a and b: intra-node when both are on node rank / ranks_per_node.
  const Link& link(int a, int b) const;
  // A message between ranks a and b.
  double message(int a, int b, double states = 1) const;
  // A scalar allreduce over p ranks: a recursive-doubling tree, 2·ceil(log2 p) latencies.
  double allreduce_scalar(int p) const;
};

struct PhaseTimes {
  double relax = 0, restrict_ = 0, interp = 0, comm = 0;  // comm: messages inside those phases
};

struct SolveCost {
  int iterations = 0;
  double total = 0;        // critical path, s
  double coarsest = 0;     // serial coarsest-level solves incl. their chain of messages
  double reductions = 0;   // residual-norm allreduces
  double final_sweep = 0;  // the level-0 sweep after the last iteration (tapes, gradients)
  std::vector<PhaseTimes> levels;  // per level < levels-1, summed over iterations
  double work = 0;         // all step evaluations on all ranks, s (for overhead factors)
};

// step_s[n]: time of fine step n on level 0; coarse_s[n]: time of a coarse-level step that starts
// at fine step n (the coarse propagator uses the layer at its start point).
SolveCost mgrit_solve_cost(const std::vector<double>& step_s, const std::vector<double>& coarse_s,
                           const Hierarchy& h, const MgritSettings& s, int iterations,
                           const Network& net, double vector_op_s);

}  // namespace lpt::perf
