#pragma once
// The gradient-error measurement of a layer-parallel run (docs/controller.md): on the training
// batch of the step, and on the M-1 batches that follow it in the training stream (at the same
// parameters), the exact serial gradient g next to the layer-parallel gradient ĝ. Reports the
// comparison on the step's own batch (relative error, cosine, per layer), the bias estimate over
// the M batches (adaptive/grad_error.hpp) and the cheap indicator the MGRIT residuals give, with
// what a fit of past measurements predicts from it (adaptive/error_predictor.hpp).
//
// Precision (monitor.precision): float32 compares the training model's own ĝ and g, so the error
// it reads has float32 rounding's floor (1e-7 to 1e-6). float64 copies the parameters into a
// float64 twin of the model (Task::model64, bound to the same batches, with the same dropout key)
// and computes both g and ĝ there with the same solver settings: the error is then the solver's
// alone down to ~1e-12. The update always uses the training step's float32 ĝ.
//
// Every rank runs the same check (the layer-parallel solves are collective; so is the exact
// gradient of a model split over ranks, one-level propagation passed from rank to rank, the same
// bits as the serial step), and the comparisons are summed per segment over the ranks, so every
// rank sees the same numbers, whatever P, and the controller decides the same on all of them.
#include <memory>
#include <string>
#include <vector>

#include "adaptive/layer_parallel_step.hpp"
#include "train/task.hpp"
#include "train/train_step.hpp"
#include "adaptive/error_predictor.hpp"
#include "adaptive/grad_error.hpp"

namespace lpt {

struct GradientCheck {
  long step = 0;
  mgrit::GradComparison first;   // the step's own batch
  mgrit::BiasEstimate bias;      // over monitor.batches batches
  double indicator = 0;          // fwd residual/||u_N|| + adjoint residual/||λ_N|| (own batch)
  double predicted = 0;          // rel. error the fit of earlier checks predicts from it (NaN: none yet)
  double fwd_residual = 0, adj_residual = 0;
  double fwd_conv = -1, adj_conv = -1;  // last convergence factor of each solve (-1: undefined)
  double seconds = 0;            // time the check took
};

class GradientMonitor {
 public:
  // batches: M >= 1. Segments: "opening", one per layer ("layer.N"), "closing", from the
  // model's parameter layout.
  // shards: the model's split over ranks (not owned; null: a replicated model, compared here).
  GradientMonitor(Model<float>& model, int batches,
                  MonitorPrecision precision = MonitorPrecision::float32,
                  const ParamShards* shards = nullptr);

  // Call right after lp.forward_backward() on the step's batch, before the update. Leaves the
  // model bound to that batch with ĝ in its gradient, as found.
  GradientCheck check(long step, Task& task, TrainStep<float>& serial, LayerParallelStep& lp);

  const std::vector<mgrit::GradSegment>& segments() const { return segments_; }
  std::vector<std::string> segment_names() const;
  const mgrit::ErrorPredictor& predictor() const { return predictor_; }
  MonitorPrecision precision() const { return precision_; }

 private:
  // float64: the check's comparison and bias estimate from the M pairs on the twin.
  void measure64(GradientCheck& c, Task& task, const LayerParallelStep& lp);
  // The exact gradient of the bound batch into the model's gradients.
  void exact(TrainStep<float>& serial, const LayerParallelStep& lp);

  Model<float>& model_;
  int batches_;
  MonitorPrecision precision_;
  const ParamShards* shards_;
  mgrit::SumOverRanks ranks_;  // set with shards: comparisons as a partition over the ranks
  std::unique_ptr<LayerParallelStep> exact_;
  std::unique_ptr<BasicLayerParallelStep<double>> exact64_;
  std::unique_ptr<TrainStep<double>> serial64_;
  std::unique_ptr<BasicLayerParallelStep<double>> lp64_;
  std::vector<double> ghat64_;
  std::vector<mgrit::GradSegment> segments_;
  std::vector<float> ghat0_, ghat_, g_;
  mgrit::BiasEstimator bias_;
  mgrit::ErrorPredictor predictor_;
};

// Residual-based indicator of the gradient error of the last layer-parallel step.
double error_indicator(const LayerParallelStep& lp);

}  // namespace lpt
