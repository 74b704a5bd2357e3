#include "train/memory_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <sys/resource.h>

#include "perfmodel/layer_cost.hpp"
#include "train/cost_oracle.hpp"
#include "adaptive/param_shards.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

// The tokenizer's size is only known once the data is read; before that, model.vocab = 0 stands
// for a byte or character tokenizer, which has a few hundred symbols at most, or for a BPE one,
// which has at most data.bpe_vocab.
constexpr int kTokenizerVocabBound = 512;
int vocab_bound(const RunConfig& cfg) {
  const int tok = cfg.data.tokenizer == "bpe" ? std::max(cfg.data.bpe_vocab, kTokenizerVocabBound)
                                              : kTokenizerVocabBound;
  return std::max(cfg.model.vocab, tok);
}

// Binary, libraries, OpenMP/MPI runtimes and the loaded data set: measured at about 30-60 MB for
// the small data sets (docs/memory.md); the estimate adds it so that tiny models are not compared
// with zero.
constexpr double kProcessOverheadBytes = 64.0 * 1024 * 1024;


double read_number_file(const char* path) {
  std::ifstream f(path);
  std::string w;
  if (!(f >> w) || w == "max") return -1;
  try {
    return std::stod(w);
  } catch (...) {
    return -1;
  }
}

}  // namespace

MemoryEstimate estimate_train_memory(const RunConfig& cfg, int ranks, const ParamShards* shards) {
  MemoryEstimate e;
  const perf::ModelShape s = perf_shape(cfg, vocab_bound(cfg));
  // An invalid shape is the config checks' to report (they name the key); estimating it could
  // divide by zero.
  try {
    s.validate();
  } catch (const Error&) {
    return e;
  }
  // The same terms as perf::StepModel's memory per rank (perfmodel/step_model.cpp), summed per
  // layer kind: StepModel keeps per-layer vectors, which for the absurd depths this check exists
  // for would themselves exhaust memory.
  // Every mode splits the layers' tapes and states over the ranks (serial on P ranks passes them
  // from rank to rank), and with `shards` the parameters too: a rank allocates values and
  // gradients of the layers it holds (owned and ghosts) and the optimizer's moments of the ones
  // it owns; rank 0 also the opening and closing tensors.
  const int P = std::max(1, ranks);
  const double N = double(s.layers);
  double layer_tapes = 0, one_tape = 0;
  const perf::LayerCost enc = perf::step_layer_cost(s, 0);
  const perf::LayerCost dec = s.family == Family::mt ? perf::step_layer_cost(s, s.enc_layers) : enc;
  const long n_enc = s.family == Family::mt ? s.enc_layers : s.layers;
  auto add = [&](const perf::LayerCost& c, double count) {
    layer_tapes += c.tape_bytes * count;
    one_tape = std::max(one_tape, c.tape_bytes);
  };
  add(enc, double(n_enc));
  if (s.family == Family::mt) add(dec, N - n_enc);
  const perf::EndCost open = perf::opening_cost(s), close = perf::closing_cost(s);
  const double ends = open.params + close.params;
  // The rank that needs most: (held, owned) parameters. Replicated: everything on every rank.
  double held = enc.params * n_enc + dec.params * (N - n_enc) + ends, owned = held;
  if (shards && shards->split()) {
    held = owned = 0;
    for (int r = 0; r < P; ++r) {
      const auto [oe, ge] = shards->layers_held(r, 0, n_enc);
      const auto [od, gd] = shards->layers_held(r, n_enc, long(N));
      const double e = shards->holds_ends(r) ? ends : 0.0;
      const double o = enc.params * oe + dec.params * od + (r == 0 ? ends : 0.0);
      const double h = o + enc.params * ge + dec.params * gd + (r == 0 ? 0.0 : e);
      if (h + o > held + owned) held = h, owned = o;
    }
  }
  // The tapes of the fullest rank's ceil(N / P) layers.
  const double share = std::ceil(N / P) / N;
  const double state = perf::state_bytes(s);
  // Parameters, gradients and the two AdamW moments in float32; MGRIT keeps up to 4 copies of a
  // state per point it owns (step_model.cpp), the serial step one per layer boundary.
  // A pipeline keeps its block's states and tapes per micro-batch in flight (cfg's batch is one
  // micro-batch): rank 0 holds the most, min(k, P) under 1F1B, k under GPipe.
  const bool pipeline = cfg.solver.mode == SolverMode::pipeline;
  const int k = cfg.solver.micro_batches;
  const double in_flight = !pipeline ? 1.0
                           : cfg.solver.schedule == PipelineSchedule::gpipe ? double(k)
                                                                            : double(std::min(k, P));
  const double states = pipeline ? in_flight * (std::ceil(N / P) + 1) * state
                        : P == 1 ? (N + 1) * state
                                 : 4 * (std::ceil(N / P) + 1) * state;
  // Gradient accumulation keeps one more float32 copy of the gradients; D data-parallel groups
  // gather every group's gradients (D copies) to sum them in a fixed order.
  const double grad_copies = 1 + (cfg.train.accumulate > 1 ? 1 : 0) +
                             (cfg.train.data_groups > 1 ? cfg.train.data_groups : 0);
  // Values and gradients of what is held; more gradient copies and the two AdamW moments of what
  // is owned.
  e.model_bytes = held * 8 + owned * (4 * (grad_copies - 1) + 8) + states +
                  in_flight * layer_tapes * share + one_tape + close.workspace_bytes;
  e.total_bytes = e.model_bytes + kProcessOverheadBytes;
  return e;
}

double available_memory_bytes() {
  double avail = -1;
  std::ifstream mi("/proc/meminfo");
  std::string line;
  while (std::getline(mi, line))
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream in(line.substr(13));
      double kb = 0;
      if (in >> kb) avail = kb * 1024;
    }
  // cgroup v2, then v1: the limit minus what the group already uses.
  double limit = read_number_file("/sys/fs/cgroup/memory.max");
  double used = read_number_file("/sys/fs/cgroup/memory.current");
  if (limit < 0) {
    limit = read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    used = read_number_file("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    if (limit > 1e18) limit = -1;  // v1 writes a huge number for "no limit"
  }
  if (limit > 0) {
    const double left = std::max(0.0, limit - std::max(0.0, used));
    avail = avail < 0 ? left : std::min(avail, left);
  }
  return avail;
}

std::string format_bytes(double b) {
  char buf[64];
  if (b >= 1024.0 * 1024 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.3g TiB", b / (1024.0 * 1024 * 1024 * 1024));
  else if (b >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.3g GiB", b / (1024.0 * 1024 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%.3g MiB", b / (1024.0 * 1024));
  return buf;
}

void check_train_memory(const MemoryEstimate& est, double available) {
  if (available < 0 || est.total_bytes <= available) return;
  fail("this run needs about ", format_bytes(est.total_bytes), " per rank (parameters, gradients, ",
       "optimizer moments, activations and workspace, estimated by the performance model) but ",
       "the machine has ", format_bytes(available), " available; use a smaller model "
       "(model.layers, model.d_model, model.d_ff, model.seq_len) or train.batch, more ranks, or ",
       "set train.check_memory = false to try anyway");
}

double peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) * 1024.0;  // KiB on Linux
}

}  // namespace lpt
