#include "train/train_records.hpp"

#include <cmath>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/h5handle.hpp"

namespace lpt {
namespace {

const char* const kTimerNames[] = {"step", "vjp", "vec", "pack", "mpi_wait", "total"};

std::vector<double> timer_values(const mgrit::Timers& t) {
  return {t.step, t.vjp, t.vec, t.pack, t.mpi_wait, t.total};
}

// Timers of every rank, rank-major: [r0.step, r0.vjp, ..., r1.step, ...].
std::vector<double> gather_timers(const mgrit::Timers& t, MPI_Comm comm, int& ranks) {
  std::vector<double> mine = timer_values(t);
  int init = 0;
  MPI_Initialized(&init);
  ranks = 1;
  if (!init) return mine;
  int rank = 0;
  MPI_Comm_size(comm, &ranks);
  MPI_Comm_rank(comm, &rank);
  if (ranks == 1) return mine;
  std::vector<double> all(mine.size() * ranks);
  MPI_Gather(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), int(mine.size()), MPI_DOUBLE,
             0, comm);
  return all;
}

void record_solve(H5Record* rec, const std::string& g, const mgrit::SolveStats& s,
                  const std::vector<double>& timers, int ranks) {
  if (!rec) return;
  rec->append(g + "/iterations", static_cast<std::int64_t>(s.iterations));
  rec->append(g + "/residual", s.final_residual);
  std::vector<double> res, cf;
  for (const auto& it : s.history) {
    res.push_back(it.residual);
    cf.push_back(it.conv_factor);
  }
  rec->append_series(g + "/residuals", res);
  rec->append_series(g + "/conv_factors", cf);
  std::vector<double> evals;
  std::vector<std::string> cols;
  for (std::size_t l = 0; l < s.evals_all_ranks.size(); ++l) {
    evals.push_back(double(s.evals_all_ranks[l]));
    cols.push_back("level" + std::to_string(l));
  }
  evals.push_back(double(s.param_grads_all_ranks));
  cols.push_back("param_grads");
  rec->append_row(g + "/evals", evals, cols);
  std::vector<std::string> tcols;
  for (int r = 0; r < ranks; ++r)
    for (const char* n : kTimerNames) tcols.push_back("r" + std::to_string(r) + "." + n);
  rec->append_row(g + "/timers", timers, tcols);
}

double finite_or(double v, double alt) { return std::isfinite(v) ? v : alt; }

}  // namespace

int mode_code(mgrit::TrainMode m) {
  switch (m) {
    case mgrit::TrainMode::serial: return 0;
    case mgrit::TrainMode::parallel: return 1;
    case mgrit::TrainMode::serial_forward: return 2;
  }
  return -1;
}

void record_mode(H5Record* rec, mgrit::TrainMode mode, int fwd_iters, int bwd_iters) {
  if (!rec) return;
  rec->append("/solver/mode", static_cast<std::int64_t>(mode_code(mode)));
  if (rec->rows("/solver/mode") == 1)  // once, not a write per step
    rec->set_attr("/solver/mode", "codes", "0 serial, 1 parallel, 2 serial_forward");
  const bool exact = mode == mgrit::TrainMode::serial;
  rec->append_row("/solver/configured_iterations",
                  {exact || mode == mgrit::TrainMode::serial_forward ? 0.0 : double(fwd_iters),
                   exact ? 0.0 : double(bwd_iters)},
                  {"forward", "backward"});
}

void record_solves(H5Record* rec, long step, const LayerParallelStep& lp, MPI_Comm comm) {
  record_solves(rec, step, lp.forward_stats(), lp.adjoint_stats(), lp.times(), comm);
}

void record_solves(H5Record* rec, long step, const mgrit::SolveStats& forward,
                   const mgrit::SolveStats& adjoint, const LayerParallelTimes& t, MPI_Comm comm) {
  int ranks = 1;
  const std::vector<double> ft = gather_timers(forward.timers, comm, ranks);
  const std::vector<double> at = gather_timers(adjoint.timers, comm, ranks);
  if (!rec) return;
  rec->append("/solver/step", static_cast<std::int64_t>(step));
  record_solve(rec, "/solver/forward", forward, ft, ranks);
  record_solve(rec, "/solver/adjoint", adjoint, at, ranks);
  rec->append_row("/solver/phase_time", {t.open, t.forward, t.close, t.adjoint, t.reduce},
                  {"open", "forward", "close", "adjoint", "reduce"});
}

void record_check(H5Record* rec, const GradientCheck& c, const std::vector<std::string>& segs) {
  if (!rec) return;
  const std::string m = "/monitor/";
  rec->append(m + "step", static_cast<std::int64_t>(c.step));
  rec->append(m + "rel_error", c.first.rel_error);
  rec->append(m + "cosine", c.first.cosine);
  rec->append(m + "norm_exact", c.first.norm_exact);
  rec->append(m + "norm_approx", c.first.norm_approx);
  rec->append(m + "bias_ratio", c.bias.bias_ratio);
  rec->append(m + "bias_vs_spread", c.bias.bias_vs_spread);
  rec->append(m + "grad_spread", c.bias.grad_spread);
  rec->append(m + "error_spread", c.bias.error_spread);
  rec->append(m + "mean_error_norm", c.bias.mean_error_norm);
  rec->append(m + "mean_grad_norm", c.bias.mean_grad_norm);
  rec->append(m + "systematic_fraction", c.bias.systematic_fraction);
  rec->append(m + "mean_rel_error", c.bias.mean_rel_error);
  rec->append(m + "batches", static_cast<std::int64_t>(c.bias.batches));
  rec->append(m + "indicator", c.indicator);
  rec->append(m + "predicted_rel_error", c.predicted);
  rec->append(m + "fwd_residual", c.fwd_residual);
  rec->append(m + "adj_residual", c.adj_residual);
  rec->append(m + "fwd_conv_factor", c.fwd_conv);
  rec->append(m + "adj_conv_factor", c.adj_conv);
  rec->append(m + "seconds", c.seconds);
  rec->append_row(m + "segment_cosine", c.first.seg_cosine, segs);
  rec->append_row(m + "segment_norm_ratio", c.first.seg_norm_ratio, segs);
  rec->append_row(m + "segment_rel_error", c.first.seg_rel_error, segs);
}

void record_decision(H5Record* rec, const mgrit::ControlDecision& d, const GradientCheck& c) {
  if (!rec) return;
  // JSON has no inf/NaN: an undefined ratio is written as null.
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json m = {{"bias_ratio", num(c.bias.bias_ratio)},
                      {"bias_vs_spread", num(c.bias.bias_vs_spread)},
                      {"rel_error", num(c.first.rel_error)},
                      {"cosine", num(c.first.cosine)},
                      {"predicted_rel_error", num(finite_or(c.predicted, NAN))},
                      {"mode", mgrit::to_string(d.after.mode)},
                      {"fwd_iters", d.after.fwd_iters},
                      {"bwd_iters", d.after.bwd_iters},
                      {"strikes", d.after.strikes},
                      {"trigger", d.trigger},
                      {"next_check", d.after.next_check}};
  rec->append_event("/control/events", d.step, d.action_name(), d.reason, m.dump());
}

std::string resume_record_problem(const std::string& file, int ranks, int world) {
  h5::QuietErrors quiet;
  const h5::Handle f(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f.valid()) return "";  // the path checks have already named an unreadable file
  struct Table {
    const char* path;
    hsize_t per_rank;
    int ranks;
    const char* what;
  };
  const Table tables[] = {
      {"/solver/forward/timers", std::size(kTimerNames), ranks, "timers per rank"},
      {"/solver/adjoint/timers", std::size(kTimerNames), ranks, "timers per rank"},
      {"/memory/peak_rss", 1, world, "peak memory per rank"}};
  for (const Table& t : tables) {
    if (!h5::exists(f, t.path)) continue;
    const h5::Handle d(H5Dopen2(f, t.path, H5P_DEFAULT));
    const h5::Handle space(H5Dget_space(d));
    hsize_t dims[2] = {0, 0};
    if (!d.valid() || H5Sget_simple_extent_ndims(space) != 2) continue;
    H5Sget_simple_extent_dims(space, dims, nullptr);
    const hsize_t written = dims[1] / t.per_rank;
    if (written == static_cast<hsize_t>(t.ranks)) continue;
    std::ostringstream m;
    m << "record " << file << " was written on " << written << " rank"
      << (written == 1 ? "" : "s") << " (" << t.path << " holds " << t.per_rank << " " << t.what
      << ") and cannot be continued on " << t.ranks << "; resume with the rank count that wrote "
      << "it, or into a new record: --set output.file=NEW.h5 (the checkpoint itself resumes on "
      << "any rank count)";
    return m.str();
  }
  return "";
}

}  // namespace lpt
