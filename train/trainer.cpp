#include "train/trainer.hpp"

#include <mpi.h>
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "train/cost_oracle.hpp"
#include "train/gradient_monitor.hpp"
#include "train/memory_check.hpp"
#include "train/model_split.hpp"
#include "adaptive/rank_runner.hpp"
#include "train/output_paths.hpp"
#include "train/record_lock.hpp"
#include "adaptive/layer_parallel_step.hpp"
#include "train/run_checkpoint.hpp"
#include "train/task.hpp"
#include "train/train_records.hpp"
#include "adaptive/controller.hpp"
#include "optim/lr_schedule.hpp"
#include "optim/optim.hpp"
#include "train/pipeline_step.hpp"
#include "train/rank_layout.hpp"
#include "train/train_step.hpp"
#include "util/error.hpp"
#include "util/h5record.hpp"
#include "util/progress.hpp"
#include "util/timer.hpp"

namespace lpt {
namespace {

// Discards what ranks other than 0 would print.
class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
};

mgrit::TrainMode start_mode(SolverMode m) {
  switch (m) {
    case SolverMode::serial:
    case SolverMode::pipeline: return mgrit::TrainMode::serial;  // exact
    case SolverMode::serial_forward: return mgrit::TrainMode::serial_forward;
    case SolverMode::parallel:
    case SolverMode::adaptive: return mgrit::TrainMode::parallel;
  }
  return mgrit::TrainMode::serial;
}

mgrit::ControllerOptions controller_options(const ControlConfig& c, long every) {
  mgrit::ControllerOptions o;
  o.set_eta(c.eta);
  o.set_patience(c.patience);
  o.set_action(c.action);
  o.set_raise_order(c.raise_order);
  o.set_iteration_step(c.iteration_step);
  o.set_max_iterations(c.max_forward_iterations, c.max_backward_iterations);
  o.set_check_every(every);
  o.set_trend(c.trend_horizon, c.trend_window, c.trend_growth, c.trend_floor);
  o.set_recheck(c.recheck, c.raise_gain);
  o.set_alarm_growth(c.alarm_growth);
  return o;
}

double relative(double residual, double scale) {
  return scale > 0 && residual >= 0 ? residual / scale : 0.0;
}

// The cheap numbers of the last layer-parallel step the controller watches between checks.
mgrit::SolveIndicators solve_indicators(const LayerParallelStep& lp) {
  mgrit::SolveIndicators x;
  if (!lp.forward_exact())
    x.fwd = relative(lp.forward_stats().final_residual, lp.final_state_norm());
  x.adj = relative(lp.adjoint_stats().final_residual, lp.final_adjoint_norm());
  return x;
}

std::unique_ptr<Optimizer<float>> make_optimizer(const TrainConfig& t,
                                                 const ParamStore<float>& params) {
  std::unique_ptr<Optimizer<float>> opt;
  if (t.optimizer == OptimizerKind::adamw) {
    auto a = std::make_unique<AdamW<float>>(params.size());
    a->set_betas(t.betas[0], t.betas[1]);
    a->set_eps(t.eps);
    opt = std::move(a);
  } else {
    auto s = std::make_unique<SGD<float>>(params.size());
    s->set_momentum(t.momentum);
    opt = std::move(s);
  }
  opt->set_weight_decay(t.weight_decay);
  opt->set_groups(no_decay_groups(params.entries()));
  return opt;
}

LrKind lr_kind(Schedule s) {
  switch (s) {
    case Schedule::constant: return LrKind::constant;
    case Schedule::cosine: return LrKind::warmup_cosine;
    case Schedule::linear: return LrKind::warmup_linear;
  }
  return LrKind::constant;
}

// Micro-batches a pipeline step cuts each share of a batch into (1 in the other modes).
int pipeline_parts(const RunConfig& c) {
  return c.solver.mode == SolverMode::pipeline ? c.solver.micro_batches : 1;
}

// What one group's loader draws: train.batch / (D·k) items per draw (k: pipeline micro-batches),
// and D·k times the evaluation batches of that size (the same validation items as one group
// evaluates with the whole batch).
RunConfig group_config(const RunConfig& c) {
  RunConfig g = c;
  const int parts = c.train.data_groups * pipeline_parts(c);
  g.train.batch = c.train.batch / parts;
  g.train.eval_batches = c.train.eval_batches * parts;
  return g;
}

class Run {
 public:
  Run(const RunConfig& cfg, const TrainOptions& o)
      : cfg_(cfg), group_cfg_(group_config(cfg)), o_(o), layout_(o.comm, cfg.train.data_groups),
        null_out_(&null_buf_), out_(o.out ? *o.out : std::cout) {
    rank_ = layout_.rank();
    ranks_ = layout_.ranks();
  }

  // Rank 0's `c` (a string or vector: size, then contents of MPI type `t`) on every rank of the
  // run's communicator.
  template <class C>
  void broadcast(C& c, MPI_Datatype t) const {
    long long n = static_cast<long long>(c.size());
    MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, o_.comm);
    c.resize(static_cast<std::size_t>(n));
    if (n > 0) MPI_Bcast(c.data(), static_cast<int>(n), t, 0, o_.comm);
  }

  TrainSummary go() {
    Timer wall;
    if (cfg_.train.threads > 0) omp_set_num_threads(cfg_.train.threads);
    // Before anything is written or allocated: a path lpt must not write fails now. Rank 0
    // alone looks (it is the one writer): another rank looking later could find rank 0's record
    // half-created and call it "not an HDF5 file". Every rank gets rank 0's verdict.
    std::string path_problem;
    if (rank_ == 0) {
      try {
        check_output_paths(cfg_.output.file, cfg_.output.checkpoint, cfg_.output.overwrite);
        if (!o_.resume.empty() && std::filesystem::exists(cfg_.output.file))
          path_problem = resume_record_problem(cfg_.output.file, ranks_, layout_.world());
      } catch (const Error& e) {
        path_problem = e.what();
      }
    }
    if (layout_.world() > 1) broadcast(path_problem, MPI_CHAR);
    if (!path_problem.empty()) throw Error(path_problem);
    if (rank_ == 0) lock_ = std::make_unique<RecordLock>(cfg_.output.file);  // the one writer
    // Which layers this rank holds, before anything is allocated: the model, its gradients and
    // the optimizer's state exist here only for them.
    shards_ = std::make_unique<ParamShards>(split_model(cfg_, layout_.group_comm()));
    group_cfg_.model.roles = shards_->roles();
    // Before the data and the model are allocated: a run that cannot fit fails now, with numbers.
    memory_estimate_ = estimate_train_memory(group_cfg_, ranks_, shards_.get());
    if (cfg_.train.check_memory) check_train_memory(memory_estimate_, available_memory_bytes());
    task_ = make_task(group_cfg_);
    Model<float>& model = task_->model();
    model.init(cfg_.train.seed);
    std::string init_note;
    if (o_.resume.empty() && !cfg_.train.init_from.empty()) {
      const InitFromReport r = init_from_checkpoint(
          cfg_.train.init_from, model.params(), split_prefixes(cfg_.train.init_skip));
      std::ostringstream m;
      m << "initialized from " << cfg_.train.init_from << " (its step " << r.checkpoint_step
        << "): " << r.loaded << " tensors";
      if (!r.skipped.empty()) m << "; " << r.skipped.size() << " kept at the seed's init";
      init_note = m.str();
    }
    opt_ = make_optimizer(cfg_.train, model.params());
    sched_ = LrSchedule(lr_kind(cfg_.train.schedule), cfg_.train.lr, cfg_.train.min_lr,
                        cfg_.train.warmup, cfg_.train.steps);
    step_ = std::make_unique<TrainStep<float>>(model, opt_.get());
    step_->set_max_grad_norm(cfg_.train.clip);
    // Per tensor, then in registration order over the ranks: the same norm on any P.
    step_->set_sq_norm([this](const ParamStore<float>& p) {
      grad_sq_norm_by_tensor(p, norms_);
      shards_->sum_by_index(norms_);
      return ordered_total(norms_);
    });
    setup_solver();

    RunState state;
    if (!o_.resume.empty()) {
      state = load_checkpoint(o_.resume, model.params(), *opt_);
      require(state.step < cfg_.train.steps, "train.steps is ", cfg_.train.steps, " but the "
              "checkpoint ", o_.resume, " is already at step ", state.step, ": nothing to train. "
              "Resume with --set train.steps=N for some N > ", state.step);
      task_->set_data_state(state.data_state);
      if (!state.control.empty()) control_ = mgrit::ControlState::unpack(state.control);
      if (controller_) controller_->set_state(control_);
    }
    open_record(state);
    record_held_parameters();
    std::ostream& out = rank_ == 0 ? out_ : null_out_;
    out << "lpt train: " << to_string(cfg_.model.family) << ", " << model.params().global_size()
        << " parameters, " << cfg_.model.total_layers() << " layers, h = " << cfg_.model.h
        << "; " << task_->describe() << "\n";
    out << "solver: " << describe_solver() << "\n";
    if (!o_.resume.empty())
      out << "resumed from " << o_.resume << " at step " << state.step << "\n";
    if (!init_note.empty()) out << init_note << "\n";
    if (!o_.resume.empty() && cfg_.solver.mode != SolverMode::serial &&
        (cfg_.solver.warm_start || cfg_.solver.adjoint_guess == AdjointGuess::previous))
      out << "note: solver.warm_start states are not in checkpoints; the first step after the "
             "resume starts its solves cold\n";
    return loop(state.step, wall);
  }

 private:
  std::string describe_solver() const {
    std::ostringstream m;
    m << to_string(cfg_.solver.mode);
    if (cfg_.solver.mode == SolverMode::pipeline) {
      m << " (" << to_string(cfg_.solver.schedule) << "), exact; layers split over " << ranks_
        << " rank" << (ranks_ == 1 ? "" : "s") << ", " << cfg_.solver.micro_batches
        << " micro-batch" << (cfg_.solver.micro_batches == 1 ? "" : "es") << " of "
        << group_cfg_.train.batch << " items per batch";
      if (layout_.groups() > 1) m << " in each of " << layout_.groups() << " data-parallel groups";
      return m.str();
    }
    if (cfg_.solver.mode == SolverMode::serial) {
      if (ranks_ > 1) m << "; exact, layers passed from rank to rank over " << ranks_ << " ranks";
      if (layout_.groups() > 1)
        m << "; " << layout_.groups() << " data-parallel groups of " << ranks_ << " rank"
          << (ranks_ == 1 ? "" : "s");
      return m.str();
    }
    auto mg = [&](const MgritConfig& g) {
      m << "levels " << g.levels << ", cfactor " << g.cfactor << ", " << to_string(g.relax)
        << "-relaxation, " << g.iterations << " iteration" << (g.iterations == 1 ? "" : "s");
    };
    if (cfg_.solver.mode != SolverMode::serial_forward) {
      m << "; forward MGRIT ";
      mg(cfg_.solver.forward);
    } else {
      m << "; forward exact";
    }
    m << "; backward MGRIT ";
    mg(cfg_.solver.backward);
    if (cfg_.solver.warm_start) m << "; warm start";
    m << "; " << ranks_ << " rank" << (ranks_ == 1 ? "" : "s") << " x " << cfg_.solver.threads
      << " solver thread" << (cfg_.solver.threads == 1 ? "" : "s");
    if (layout_.groups() > 1)
      m << " in each of " << layout_.groups() << " data-parallel groups (" << group_cfg_.train.batch
        << " items of every batch each)";
    if (cfg_.monitor.every > 0)
      m << "; gradient check every " << cfg_.monitor.every << " steps on "
        << cfg_.monitor.batches << " batches";
    if (controller_)
      m << "; adaptive: eta " << cfg_.control.eta << ", patience " << cfg_.control.patience
        << ", trend horizon " << cfg_.control.trend_horizon << " steps, alarm x"
        << cfg_.control.alarm_growth << ", action " << mgrit::to_string(cfg_.control.action)
        << " (" << mgrit::to_string(cfg_.control.raise_order) << ")";
    return m.str();
  }

  void setup_solver() {
    control_.mode = start_mode(cfg_.solver.mode);
    control_.fwd_iters = cfg_.solver.forward.iterations;
    control_.bwd_iters = cfg_.solver.backward.iterations;
    Model<float>& model = task_->model();
    if (cfg_.solver.mode == SolverMode::pipeline) {
      pipe_ = std::make_unique<PipelineStep>(model, layout_.group_comm(), cfg_.solver.schedule);
      pipe_->set_shards(shards_.get());
      return;
    }
    const bool serial = cfg_.solver.mode == SolverMode::serial;
    if (serial && ranks_ == 1) return;
    lp_ = std::make_unique<LayerParallelStep>(model, layout_.group_comm());
    lp_->set_shards(shards_.get());
    if (serial) {
      // On P ranks, serial is exact propagation passed from rank to rank: the layer-parallel step
      // on one level is forward substitution over the ranks' blocks of layers, forward and
      // adjoint, with the same operations in the same order as on one rank (same bits).
      lp_->configure(exact_solver(cfg_.solver), false);
      return;
    }
    lp_->configure(cfg_.solver, cfg_.solver.mode == SolverMode::serial_forward);
    if (cfg_.monitor.every > 0)
      monitor_ = std::make_unique<GradientMonitor>(model, cfg_.monitor.batches,
                                                   cfg_.monitor.precision, shards_.get());
    if (cfg_.solver.mode == SolverMode::adaptive) {
      controller_ = std::make_unique<mgrit::Controller>(controller_options(cfg_.control, cfg_.monitor.every), control_);
      auto oracle = make_cost_oracle(group_cfg_, model.config(), ranks_);
      if (oracle) controller_->set_cost_oracle(oracle);
    }
  }

  void open_record(const RunState& state) {
    if (rank_ != 0) return;  // one writer: serial HDF5
    // A resume into a record that does not exist yet starts it at the checkpoint's step (the rows
    // before it stay in the original run's record), as a fresh run would.
    const bool resuming = !o_.resume.empty() && std::filesystem::exists(cfg_.output.file);
    record_ = std::make_unique<H5Record>(cfg_.output.file,
                                         resuming ? H5Record::Mode::append : H5Record::Mode::create);
    if (resuming) {
      // Series the checkpoint does not list did not exist yet at its step: cut them to 0.
      for (const std::string& d : record_->series()) {
        auto it = state.record_rows.find(d);
        record_->truncate(d, it == state.record_rows.end() ? 0 : std::uint64_t(it->second));
      }
      record_->write_run_info(cfg_.resolved_string());  // one more /run/starts row, this config
      record_->append_event("/control/events", state.step, "resume", "resumed from " + o_.resume);
    } else if (!o_.resume.empty()) {
      write_new_record_info();
      record_->append_event("/control/events", state.step, "resume",
                            "resumed from " + o_.resume + " into a new record; the steps before " +
                                std::to_string(state.step) + " are in the original run's record");
    } else {
      write_new_record_info();
      record_->append_event("/control/events", 0, "start", describe_solver());
    }
    record_->flush();
  }

  void write_new_record_info() {
    record_->write_run_info(cfg_.resolved_string());
    record_->set_attr("/", "family", to_string(cfg_.model.family));
    record_->set_attr("/", "solver_mode", to_string(cfg_.solver.mode));
    record_->set_attr("/", "ranks", ranks_);
    record_->set_attr("/", "data_groups", layout_.groups());
    record_->set_attr("/", "memory_estimate_bytes", memory_estimate_.total_bytes);
    record_->set_attr("/", "tokenizers", task_->tokenizers().dump());
  }

  RunState current_state(long step) {
    RunState s;
    s.step = step;
    s.data_state = task_->data_state();
    for (const std::string& d : record_->series())
      s.record_rows[d] = static_cast<std::int64_t>(record_->rows(d));
    if (cfg_.solver.mode != SolverMode::serial) s.control = control_.pack();
    return s;
  }

  // Group 0's ranks hand their tensors to rank 0, which writes (every group holds the same).
  void checkpoint(long step) {
    if (cfg_.output.checkpoint.empty() || layout_.group() != 0) return;
    save_checkpoint(cfg_.output.checkpoint, cfg_.resolved_string(), task_->tokenizers(),
                    task_->model().params(), *opt_, rank_ == 0 ? current_state(step) : RunState{},
                    *shards_);
    progress_->message("checkpoint " + cfg_.output.checkpoint + " at step " +
                       std::to_string(step));
    if (cfg_.output.keep_checkpoints && rank_ == 0) {
      const std::string kept = kept_checkpoint_path(cfg_.output.checkpoint, step);
      std::filesystem::copy_file(cfg_.output.checkpoint, kept,
                                 std::filesystem::copy_options::overwrite_existing);
      progress_->message("kept " + kept);
    }
  }

  // Every rank's peak resident memory so far, one row per call (collective on the world; rank 0
  // writes): what a layout costs each rank, beside the estimate in the root attributes.
  void record_memory(long step) {
    double mine = peak_rss_bytes();
    std::vector<double> all(layout_.world(), mine);
    if (layout_.world() > 1)
      MPI_Gather(&mine, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, 0, o_.comm);
    if (!record_) return;
    std::vector<std::string> cols;
    for (int r = 0; r < layout_.world(); ++r) cols.push_back("rank " + std::to_string(r));
    record_->append("/memory/step", static_cast<std::int64_t>(step));
    record_->append_row("/memory/peak_rss", all, cols);
    record_->flush();
  }

  // Once: the parameter elements each rank allocates (owned, then ghost copies of others'),
  // what splitting the model saves beside the peaks.
  void record_held_parameters() {
    const ParamStore<float>& p = task_->model().params();
    double mine[2] = {double(p.size()), double(p.storage_size() - p.size())};
    std::vector<double> all(2 * layout_.world(), 0.0);
    if (layout_.world() > 1)
      MPI_Gather(mine, 2, MPI_DOUBLE, all.data(), 2, MPI_DOUBLE, 0, o_.comm);
    else
      all.assign(mine, mine + 2);
    if (!record_ || record_->rows("/memory/params_owned") > 0) return;
    std::vector<std::string> cols;
    std::vector<double> owned, ghost;
    for (int r = 0; r < layout_.world(); ++r) {
      cols.push_back("rank " + std::to_string(r));
      owned.push_back(all[2 * r]);
      ghost.push_back(all[2 * r + 1]);
    }
    record_->append_row("/memory/params_owned", owned, cols);
    record_->append_row("/memory/params_ghost", ghost, cols);
    record_->set_attr("/memory/params_owned", "total", double(p.global_size()));
  }

  // Every group evaluates the same batches, its layers passed from rank to rank (the serial
  // forward's bits), and every rank gets the result.
  EvalResult evaluate(long step) {
    Model<float>& model = task_->model();
    model.set_train(false);
    RankRunner<float> runner(*shards_);
    const EvalResult r = task_->evaluate(runner, group_cfg_.train.eval_batches);
    model.set_train(true);
    if (record_) {
      record_->append("/eval/step", static_cast<std::int64_t>(step));
      record_->append("/eval/loss", r.loss);
      record_->append("/eval/metric", r.metric);
      record_->set_attr("/eval/metric", "name", r.metric_name);
      record_->flush();
    }
    std::ostringstream m;
    m << "eval step " << step << ": val_loss " << r.loss << ", " << r.metric_name << " "
      << r.metric;
    progress_->message(m.str());
    return r;
  }

  [[noreturn]] void diverged(long step, double loss, double grad_norm) {
    std::ostringstream m;
    m << "training diverged at step " << step << ": loss = " << loss
      << ", gradient norm = " << grad_norm << " (not finite); no update was applied. The record "
      << cfg_.output.file << " holds every step before it";
    if (!cfg_.output.checkpoint.empty())
      m << " and the last good checkpoint is " << cfg_.output.checkpoint;
    m << ". Lower train.lr, set train.clip, or lengthen train.warmup";
    if (control_.mode != mgrit::TrainMode::serial)
      m << "; with MGRIT, more solver.mgrit iterations or solver.mode \"adaptive\" may help";
    m << ".";
    if (record_) {
      record_->append_event("/control/events", step, "stop", "non-finite loss or gradient");
      record_->flush();
    }
    progress_->finish();
    fail(m.str());
  }

  // Whether step s gets a gradient check: the controller's schedule (and its alarm) when
  // adaptive, every monitor.every steps otherwise.
  bool check_due(long s) {
    if (!monitor_) return false;
    if (!controller_) return s % cfg_.monitor.every == 0;
    const mgrit::CheckRequest q = controller_->wants_check(s, indicators_);
    if (q.now && q.why != "scheduled") progress_->message("early check at step " +
                                                          std::to_string(s) + ": " + q.why);
    return q.now;
  }

  // Gradient check and, when adaptive, the controller's decision; effective from the next step.
  void monitor_and_control(long s) {
    const GradientCheck c = monitor_->check(s, *task_, *step_, *lp_);
    last_check_ = c;
    have_check_ = true;
    record_check(record_.get(), c, monitor_->segment_names());
    std::ostringstream m;
    m << "check step " << s << ": grad rel_error " << c.first.rel_error << ", cosine "
      << c.first.cosine << ", bias " << c.bias.bias_ratio << " of |mean g| over "
      << c.bias.batches << " batches";
    if (!controller_) {
      progress_->message(m.str());
      return;
    }
    const mgrit::ControlDecision d = controller_->check(
        s, mgrit::ControlMetrics{c.bias.bias_ratio, c.first.rel_error, c.first.cosine,
                                 c.bias.bias_vs_spread, indicators_});
    record_decision(record_.get(), d, c);
    m << " -> " << d.action_name();
    if (d.kind != mgrit::ControlDecision::Kind::hold) m << ": " << d.reason;
    progress_->message(m.str());
    control_ = controller_->state();  // gradient() applies it from the next step
  }

  // The gradient of step s over train.accumulate micro-batches, each split over the data groups:
  // every group draws all D shares of a micro-batch (so all keep one data stream) and takes its
  // own; each share gets its own dropout key (the step's own with one share). The update uses the
  // mean of the shares' gradients, summed within the group and then across groups in share order,
  // left in the model's gradients: D groups equal D-fold accumulation of the shares up to that
  // order. Group 0 alone runs the gradient check, when due, on the step's last share; the
  // controller's state then goes from it to every group. Returns the mean loss.
  double accumulated_gradient(long s, PhaseTimes& ph) {
    Model<float>& model = task_->model();
    ParamStore<float>& p = model.params();
    const int k = cfg_.train.accumulate, D = layout_.groups(), mine = layout_.share();
    const int parts = pipeline_parts(cfg_);  // draws per share
    double loss = 0;
    for (int j = 0; j < k; ++j) {
      for (int d = 0; d < mine * parts + 1; ++d) task_->next_batch();
      auto key = [&](int m) {
        return static_cast<std::uint64_t>(s) * k * D * parts + (j * D + mine) * parts + m;
      };
      PhaseTimes pj;
      if (pipe_) {
        loss += pipeline_gradient(s, pj, [&](int m) {
          task_->bind_lookahead(m);
          model.set_dropout_key(cfg_.train.seed, key(m));
        });
      } else {
        model.set_dropout_key(cfg_.train.seed, key(0));
        loss += gradient(s, pj, j == k - 1 && layout_.group() == 0);
      }
      for (int d = mine * parts + 1; d < D * parts; ++d) task_->next_batch();
      ph.forward += pj.forward;
      ph.backward += pj.backward;
      if (k == 1) break;
      // Every path zeroes the gradients (and the layer-parallel one sums them over the ranks),
      // so the sum over micro-batches is kept apart and handed back at the end.
      const float* gr = p.grads();
      if (j == 0) accumulated_.assign(gr, gr + p.size());
      else for (std::size_t i = 0; i < p.size(); ++i) accumulated_[i] += gr[i];
    }
    if (controller_ && D > 1) share_control_state();
    if (k == 1 && D == 1) return loss;
    float* gr = p.grads();
    if (k > 1) std::copy(accumulated_.begin(), accumulated_.end(), gr);
    layout_.sum_over_groups(gr, p.size());
    layout_.sum_over_groups(&loss, 1);
    const int shares = k * D;
    for (std::size_t i = 0; i < p.size(); ++i) gr[i] /= float(shares);
    return loss / shares;
  }

  // One share's gradient through the pipeline: its micro-batches bound by `bind`; records the
  // step's forwards and backwards as the layer-parallel modes record their solves.
  double pipeline_gradient(long s, PhaseTimes& ph, const std::function<void(int)>& bind) {
    const double loss = pipe_->forward_backward(cfg_.solver.micro_batches, bind);
    const PipelineTimes& t = pipe_->times();
    ph.forward = t.open + t.forward + t.wait_forward + t.close;
    ph.backward = t.backward + t.wait_backward + t.open_backward + t.reduce;
    LayerParallelTimes phases;
    phases.open = t.open;
    phases.forward = t.forward + t.wait_forward;
    phases.close = t.close;
    phases.adjoint = t.backward + t.wait_backward;
    phases.reduce = t.open_backward + t.reduce;
    record_solves(record_.get(), s, pipe_->forward_stats(), pipe_->adjoint_stats(), phases,
                  layout_.group_comm());
    return loss;
  }

  // Group 0's controller decided; every group takes its state, so all act alike from now on.
  void share_control_state() {
    std::vector<double> v = control_.pack();
    broadcast(v, MPI_DOUBLE);
    if (layout_.group() == 0) return;
    control_ = mgrit::ControlState::unpack(v);
    controller_->set_state(control_);
  }

  // The gradient of the bound batch in the mode in force; records the solves. A gradient check
  // may run only with the step's last micro-batch (`check_allowed`).
  double gradient(long s, PhaseTimes& ph, bool check_allowed) {
    // Serial training on P ranks passes the layers from rank to rank (one-level solves, the
    // same bits as one rank's serial step); so does an adaptive run that switched to serial.
    const bool exact_over_ranks = lp_ && cfg_.solver.mode == SolverMode::serial;
    if (control_.mode == mgrit::TrainMode::serial && !exact_over_ranks) {
      if (ranks_ > 1) return exact_gradient(s, ph);
      const double loss = step_->forward_backward();
      ph = step_->times();
      return loss;
    }
    if (!exact_over_ranks) lp_->set_iterations(control_.fwd_iters, control_.bwd_iters);
    const double loss = lp_->forward_backward();
    const LayerParallelTimes& t = lp_->times();
    ph.forward = t.open + t.forward + t.close;
    ph.backward = t.adjoint + t.reduce;
    record_solves(record_.get(), s, *lp_, layout_.group_comm());
    indicators_ = solve_indicators(*lp_);  // before a check's extra solves overwrite the stats
    if (check_allowed && std::isfinite(loss) && check_due(s)) monitor_and_control(s);
    return loss;
  }

  // An adaptive run's serial steps on P ranks: one-level solves over the split model.
  double exact_gradient(long s, PhaseTimes& ph) {
    if (!exact_lp_) {
      exact_lp_ = std::make_unique<LayerParallelStep>(task_->model(), layout_.group_comm());
      exact_lp_->set_shards(shards_.get());
      exact_lp_->configure(exact_solver(cfg_.solver), false);
    }
    const double loss = exact_lp_->forward_backward();
    const LayerParallelTimes& t = exact_lp_->times();
    ph.forward = t.open + t.forward + t.close;
    ph.backward = t.adjoint + t.reduce;  // not a solve to record: one rank's serial step records none
    return loss;
  }

  std::vector<ProgressField> progress_fields() const {
    std::vector<ProgressField> f = {{"mode", mgrit::to_string(control_.mode)}};
    if (control_.mode == mgrit::TrainMode::parallel)
      f.push_back({"it", std::to_string(control_.fwd_iters) + "/" +
                             std::to_string(control_.bwd_iters)});
    else if (control_.mode == mgrit::TrainMode::serial_forward)
      f.push_back({"it", "exact/" + std::to_string(control_.bwd_iters)});
    if (have_check_ && control_.mode != mgrit::TrainMode::serial) {
      f.push_back(progress_field("gerr", last_check_.first.rel_error, 3));
      f.push_back(progress_field("bias", last_check_.bias.bias_ratio, 3));
    }
    return f;
  }

  TrainSummary loop(long first, const Timer& wall) {
    const long total = cfg_.train.steps;
    std::ostream& out = rank_ == 0 ? out_ : null_out_;
    progress_ = o_.tty < 0 ? std::make_unique<Progress>(total, out)
                           : std::make_unique<Progress>(total, out, o_.tty == 1);
    progress_->set_log_every(cfg_.output.log_every);
    progress_->set_unit(task_->item_unit());
    progress_->set_start_step(first);  // the ETA of a resumed run counts only the steps ahead
    TrainSummary sum;
    Timer elapsed;
    for (long s = first; s < total; ++s) {
      if (o_.stop_after >= 0 && s >= o_.stop_after) break;
      Timer t;
      const double lr = sched_.lr(s);
      opt_->set_lr(lr);
      const mgrit::TrainMode mode = control_.mode;
      const int fi = control_.fwd_iters, bi = control_.bwd_iters;
      PhaseTimes ph;
      const double loss = accumulated_gradient(s, ph);
      StepStats st = step_->apply_update();
      if (!st.skipped) shards_->refresh_ghosts(task_->model().params());
      st.loss = loss;
      ph.optimizer = step_->times().optimizer;
      if (!std::isfinite(st.loss) || st.skipped) diverged(s, st.loss, st.grad_norm);
      const double dt = t.seconds();
      const double items = double(task_->items_in_batch()) * cfg_.train.accumulate *
                           layout_.groups() * pipeline_parts(cfg_) / dt;
      if (record_) {
        record_->append("/train/loss", st.loss);
        record_->append("/train/lr", lr);
        record_->append("/train/grad_norm", st.grad_norm);
        record_->append("/train/step_time", dt);
        record_->append_row("/train/phase_time", {ph.forward, ph.backward, ph.optimizer},
                            {"forward", "backward", "optimizer"});
        record_->append("/train/items_per_s", items);
        record_mode(record_.get(), mode, fi, bi);
        record_->flush();
      }
      progress_->update(s + 1, st.loss, lr, items, elapsed.seconds(), progress_fields());
      sum.last_loss = st.loss;
      sum.steps = s + 1;
      const bool last = s + 1 == total;
      if (cfg_.train.eval_every > 0 && ((s + 1) % cfg_.train.eval_every == 0 || last)) {
        const EvalResult r = evaluate(s + 1);
        sum.val_loss = r.loss;
        sum.val_metric = r.metric;
        sum.metric_name = r.metric_name;
      }
      if ((cfg_.output.checkpoint_every > 0 && (s + 1) % cfg_.output.checkpoint_every == 0) ||
          last)
        checkpoint(s + 1);
      if (s == first || last || (cfg_.train.eval_every > 0 && (s + 1) % cfg_.train.eval_every == 0))
        record_memory(s + 1);
    }
    progress_->finish();
    sum.final_mode = mgrit::to_string(control_.mode);
    sum.fwd_iters = control_.fwd_iters;
    sum.bwd_iters = control_.bwd_iters;
    sum.wall_seconds = wall.seconds();
    return sum;
  }

  RunConfig cfg_;
  RunConfig group_cfg_;  // what one data-parallel group trains on
  TrainOptions o_;
  RankLayout layout_;
  NullBuffer null_buf_;
  std::ostream null_out_;
  std::ostream& out_;
  int rank_ = 0, ranks_ = 1;  // world rank; P, the ranks of a group
  std::unique_ptr<ParamShards> shards_;  // which layers this rank holds (the model's roles)
  std::unique_ptr<Task> task_;
  std::unique_ptr<Optimizer<float>> opt_;
  LrSchedule sched_;
  std::unique_ptr<TrainStep<float>> step_;
  std::unique_ptr<LayerParallelStep> lp_, exact_lp_;
  std::unique_ptr<PipelineStep> pipe_;
  MemoryEstimate memory_estimate_;  // of the rank that needs most, made once before allocating
  std::vector<float> accumulated_;  // the micro-batches' gradient sum (train.accumulate > 1)
  std::vector<double> norms_;       // |grad|² per tensor, summed over the ranks
  std::unique_ptr<GradientMonitor> monitor_;
  std::unique_ptr<mgrit::Controller> controller_;
  mgrit::ControlState control_;
  mgrit::SolveIndicators indicators_;  // of the step's own layer-parallel solves
  GradientCheck last_check_;
  bool have_check_ = false;
  std::unique_ptr<RecordLock> lock_;  // released after record_ is closed
  std::unique_ptr<H5Record> record_;
  std::unique_ptr<Progress> progress_;
};

}  // namespace

TrainSummary train(const RunConfig& cfg, const TrainOptions& opt) { return Run(cfg, opt).go(); }

}  // namespace lpt
