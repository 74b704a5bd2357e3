#pragma once
// What a sweep knows of its points from their records (docs/sweep.md): whether a point's record
// is finished, and the summary table, one row per point (its axis values, losses, metric,
// gradient error and bias, convergence factors, the controller's actions, times), written as CSV
// and HDF5.
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lpt {

// A record is finished when it holds every configured step (/train/loss has train.steps rows,
// the config being the record's own) and, when the run evaluates, the evaluation after the last
// step (the last thing `lpt train` writes before its final checkpoint). `lpt train` marks no end
// of run in the record, so this is the test.
enum class RecordState {
  missing,   // no record file
  partial,   // fewer steps, no final evaluation, a stop event, or unreadable (killed, failed)
  running,   // RECORD.lock names a live process on this host: a run is writing it now
  finished,  // complete
  stale,     // complete or not, written with another config than the point's (output.* aside)
};
const char* to_string(RecordState s);

struct RecordCheck {
  RecordState state = RecordState::missing;
  std::string why;      // for partial / running / stale: what was found
  long steps = 0;       // configured (from the record's config)
  long steps_done = 0;  // rows of /train/loss
};

// `expected`: the point's resolved config (null: do not compare).
RecordCheck check_record(const std::string& record, const nlohmann::json& expected = nullptr);

// One summary cell: a number (NaN when absent) or a text.
struct SummaryCell {
  double num = std::numeric_limits<double>::quiet_NaN();
  std::string text;
};

struct SummaryTable {
  std::vector<std::string> columns;
  std::vector<bool> numeric;  // per column: float64 or string
  std::vector<std::string> axes;  // the axis columns (a subset of columns)
  std::vector<std::vector<SummaryCell>> rows;
  int column(const std::string& name) const;  // -1 when absent
};

// The summary of the sweep in `dir`, from DIR/sweep.json (the points, written by run_sweep), its
// records and DIR/sweep_status.json (exit codes, wall times, errors). Points without a record get
// a row with their status ("missing", "failed") and NaN measurements.
SummaryTable collect_sweep(const std::string& dir);

// CSV: a header row, numbers with 10 significant digits (NaN as empty), texts quoted when they
// hold a comma, quote or newline.
void write_summary_csv(const SummaryTable& t, const std::string& path);
// HDF5: /summary/<column>, one dataset per column (float64 or UTF-8 strings) of one row per point;
// root attributes `columns` and `axes` (lists of names) and `sweep` (the directory).
void write_summary_h5(const SummaryTable& t, const std::string& path, const std::string& dir);

// collect_sweep + both writers: DIR/summary.csv and DIR/summary.h5.
SummaryTable write_sweep_summary(const std::string& dir);

}  // namespace lpt
