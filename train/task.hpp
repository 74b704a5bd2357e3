#pragma once
// A training task: one model family bound to its data set. The trainer (trainer.hpp) sees only
// this interface, so the loop, the record and the checkpoints are written once for all four
// families. make_task() builds the task a run config describes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/config.hpp"
#include "model/model.hpp"
#include "train/train_step.hpp"

namespace lpt {

// Validation of the current parameters: mean loss over the evaluated batches and the family's
// metric (token accuracy for GPT, masked-token accuracy for BERT, image accuracy for ViT, corpus
// BLEU of greedy translations for MT).
struct EvalResult {
  double loss = 0;
  double metric = 0;
  std::string metric_name;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual Model<float>& model() = 0;
  // Draws the next training batch and binds the model to it.
  virtual void next_batch() = 0;
  // Binds the model to the training batch k draws ahead (k = 0: the current one) without moving
  // the stream, so that the gradient monitor measures on batches of the training distribution at
  // the same parameters and the run's data order stays the same with and without monitoring.
  virtual void bind_lookahead(int k) = 0;
  // A float64 model of the same family and sizes, built on the first call, that every later
  // next_batch() and bind_lookahead() binds to the same batch as model(): the float64 gradient
  // monitor computes g and ĝ on it. Its parameters, dropout key and train flag are the caller's
  // to set.
  virtual Model<double>& model64() = 0;
  // What one training batch holds, for the throughput on the progress line: tokens with a
  // target, or images; and the unit ("tok/s", "img/s").
  virtual double items_in_batch() const = 0;
  virtual const char* item_unit() const = 0;
  // Evaluates on the first max_batches validation batches (all when <= 0), the layers run by
  // `run` (LayerRunner: all here; RankRunner: a model split over ranks, every rank calls). Leaves
  // the model bound to a validation batch: call next_batch() before training on.
  virtual EvalResult evaluate(LayerRunner<float>& run, int max_batches) = 0;
  // The loader's position and RNG, for checkpoints.
  virtual std::vector<std::uint64_t> data_state() const = 0;
  virtual void set_data_state(const std::vector<std::uint64_t>& s) = 0;
  // The tokenizer(s) as JSON (saved with the run); null for images.
  virtual nlohmann::json tokenizers() const = 0;
  // A line of what was loaded ("english: 3.9 M train tokens, 0.2 M val tokens").
  virtual std::string describe() const = 0;
};

// Builds the model (dimensions from cfg.model, vocabulary from the tokenizer) and the loader.
// Throws lpt::Error naming the data file and the command that prepares it when data is missing.
std::unique_ptr<Task> make_task(const RunConfig& cfg);

// The model dimensions a run config asks for, given the data's vocabulary sizes.
ModelConfig model_dims(const ModelSection& m, int vocab, int src_vocab, int tgt_vocab);

}  // namespace lpt
