#include "experiments/lib/trainer.hpp"

#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <sstream>

#include "experiments/lib/run_checkpoint.hpp"
#include "experiments/lib/task.hpp"
#include "model/lr_schedule.hpp"
#include "model/optim.hpp"
#include "model/train_step.hpp"
#include "util/error.hpp"
#include "util/h5record.hpp"
#include "util/progress.hpp"
#include "util/timer.hpp"

namespace lpt {
namespace {

// Datasets of the record that grow one row per step or per evaluation; a resumed run cuts them
// back to the rows its checkpoint knew, so the record continues without duplicates.
const char* const kStepSeries[] = {"/train/loss", "/train/lr", "/train/grad_norm",
                                   "/train/step_time", "/train/phase_time", "/train/items_per_s"};
const char* const kEvalSeries[] = {"/eval/step", "/eval/loss", "/eval/metric"};

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

class Run {
 public:
  Run(const RunConfig& cfg, const TrainOptions& o)
      : cfg_(cfg), o_(o), out_(o.out ? *o.out : std::cout) {}

  TrainSummary go() {
    Timer wall;
    if (cfg_.train.threads > 0) omp_set_num_threads(cfg_.train.threads);
    task_ = make_task(cfg_);
    Model<float>& model = task_->model();
    model.init(cfg_.train.seed);
    opt_ = make_optimizer(cfg_.train, model.params());
    sched_ = LrSchedule(lr_kind(cfg_.train.schedule), cfg_.train.lr, cfg_.train.min_lr,
                        cfg_.train.warmup, cfg_.train.steps);
    step_ = std::make_unique<TrainStep<float>>(model, opt_.get());
    step_->set_max_grad_norm(cfg_.train.clip);

    RunState state;
    if (!o_.resume.empty()) {
      state = load_checkpoint(o_.resume, model.params(), *opt_);
      task_->set_data_state(state.data_state);
    }
    open_record(state);
    out_ << "lpt train: " << to_string(cfg_.model.family) << ", " << model.params().size()
         << " parameters, " << cfg_.model.total_layers() << " layers, h = " << cfg_.model.h
         << "; " << task_->describe() << "\n";
    if (!o_.resume.empty())
      out_ << "resumed from " << o_.resume << " at step " << state.step << "\n";
    return loop(state.step, wall);
  }

 private:
  void open_record(const RunState& state) {
    const bool resuming = !o_.resume.empty();
    record_ = std::make_unique<H5Record>(cfg_.output.file,
                                         resuming ? H5Record::Mode::append : H5Record::Mode::create);
    if (resuming) {
      for (const auto& [dset, rows] : state.record_rows) record_->truncate(dset, rows);
      record_->append_event("/control/events", state.step, "resume", "resumed from " + o_.resume);
    } else {
      record_->write_run_info(cfg_.resolved_string());
      record_->set_attr("/", "family", to_string(cfg_.model.family));
      record_->set_attr("/", "solver_mode", to_string(cfg_.solver.mode));
      record_->set_attr("/", "tokenizers", task_->tokenizers().dump());
    }
    record_->flush();
  }

  RunState current_state(long step) {
    RunState s;
    s.step = step;
    s.data_state = task_->data_state();
    for (const char* d : kStepSeries) s.record_rows[d] = rows(d);
    for (const char* d : kEvalSeries) s.record_rows[d] = rows(d);
    s.record_rows["/control/events"] = rows("/control/events");
    return s;
  }
  std::int64_t rows(const char* d) { return static_cast<std::int64_t>(record_->rows(d)); }

  void checkpoint(long step) {
    if (cfg_.output.checkpoint.empty()) return;
    save_checkpoint(cfg_.output.checkpoint, cfg_.resolved_string(), task_->tokenizers(),
                    task_->model().params(), *opt_, current_state(step));
    progress_->message("checkpoint " + cfg_.output.checkpoint + " at step " +
                       std::to_string(step));
  }

  EvalResult evaluate(long step) {
    Model<float>& model = task_->model();
    model.set_train(false);
    const EvalResult r = task_->evaluate(*step_, cfg_.train.eval_batches);
    model.set_train(true);
    record_->append("/eval/step", static_cast<std::int64_t>(step));
    record_->append("/eval/loss", r.loss);
    record_->append("/eval/metric", r.metric);
    record_->set_attr("/eval/metric", "name", r.metric_name);
    record_->flush();
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
    m << ". Lower train.lr, set train.clip, or lengthen train.warmup.";
    record_->append_event("/control/events", step, "stop", "non-finite loss or gradient");
    record_->flush();
    progress_->finish();
    fail(m.str());
  }

  TrainSummary loop(long first, const Timer& wall) {
    Model<float>& model = task_->model();
    const long total = cfg_.train.steps;
    progress_ = o_.tty < 0 ? std::make_unique<Progress>(total, out_)
                           : std::make_unique<Progress>(total, out_, o_.tty == 1);
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
      task_->next_batch();
      model.set_dropout_key(cfg_.train.seed, static_cast<std::uint64_t>(s));
      const StepStats st = step_->step();
      if (!std::isfinite(st.loss) || st.skipped) diverged(s, st.loss, st.grad_norm);
      const double dt = t.seconds();
      const double items = task_->items_in_batch() / dt;
      const PhaseTimes& ph = step_->times();
      record_->append("/train/loss", st.loss);
      record_->append("/train/lr", lr);
      record_->append("/train/grad_norm", st.grad_norm);
      record_->append("/train/step_time", dt);
      record_->append_row("/train/phase_time", {ph.forward, ph.backward, ph.optimizer},
                          {"forward", "backward", "optimizer"});
      record_->append("/train/items_per_s", items);
      record_->flush();
      progress_->update(s + 1, st.loss, lr, items, elapsed.seconds());
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
    }
    progress_->finish();
    sum.wall_seconds = wall.seconds();
    return sum;
  }

  RunConfig cfg_;
  TrainOptions o_;
  std::ostream& out_;
  std::unique_ptr<Task> task_;
  std::unique_ptr<Optimizer<float>> opt_;
  LrSchedule sched_;
  std::unique_ptr<TrainStep<float>> step_;
  std::unique_ptr<H5Record> record_;
  std::unique_ptr<Progress> progress_;
};

}  // namespace

TrainSummary train(const RunConfig& cfg, const TrainOptions& opt) { return Run(cfg, opt).go(); }

}  // namespace lpt
