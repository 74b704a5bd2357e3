#pragma once
// What `lpt train` writes to the run record beyond losses (layout: docs/records.md): the MGRIT
// solves of every layer-parallel step (/solver/...), the gradient checks (/monitor/...) and the
// controller's decisions (/control/events). Writers take a null record on ranks other than 0
// (they still join the collective gathers).
#include <mpi.h>

#include <string>
#include <vector>

#include "train/gradient_monitor.hpp"
#include "adaptive/layer_parallel_step.hpp"
#include "adaptive/controller.hpp"
#include "util/h5record.hpp"

namespace lpt {

// Mode code stored in /solver/mode (attribute "codes" names them).
int mode_code(mgrit::TrainMode m);

// Per step: the mode in force and the iterations configured (0 when exact).
void record_mode(H5Record* rec, mgrit::TrainMode mode, int fwd_iters, int bwd_iters);

// Per layer-parallel step: iterations, final residual, residual and convergence-factor histories,
// evaluations per level (all ranks), per-rank timers (gathered: collective on comm), phase times.
void record_solves(H5Record* rec, long step, const LayerParallelStep& lp, MPI_Comm comm);
// The same tables from any parallel step: its two solves' stats and its phase times (a pipeline
// step reports its forwards and backwards as one exact solve each).
void record_solves(H5Record* rec, long step, const mgrit::SolveStats& forward,
                   const mgrit::SolveStats& adjoint, const LayerParallelTimes& phases,
                   MPI_Comm comm);

// Why a run on `ranks` ranks per group (`world` in all) cannot append to the existing record
// `file` ("" when it can): the per-rank timer tables (/solver/*/timers) are 6 columns per rank of
// a group wide and /memory/peak_rss one per world rank, so a record written on another rank count
// can only be continued into a new record. Read-only; call on the writer.
std::string resume_record_problem(const std::string& file, int ranks, int world);

// One gradient check.
void record_check(H5Record* rec, const GradientCheck& c, const std::vector<std::string>& segments);

// One controller decision (every check of an adaptive run), with its metrics as JSON.
void record_decision(H5Record* rec, const mgrit::ControlDecision& d, const GradientCheck& c);

}  // namespace lpt
