#include "train/trajectory.hpp"

#include <hdf5.h>
#include <omp.h>

#include <cmath>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "train/task.hpp"
#include "input/gpt.hpp"
#include "input/text.hpp"
#include "model/families/gpt.hpp"
#include "optim/lr_schedule.hpp"
#include "optim/optim.hpp"
#include "input/tokenizer.hpp"
#include "train/train_step.hpp"
#include "util/error.hpp"
#include "util/h5handle.hpp"

namespace lpt {
namespace {

LrKind schedule_kind(Schedule s) {
  switch (s) {
    case Schedule::constant: return LrKind::constant;
    case Schedule::cosine: return LrKind::warmup_cosine;
    case Schedule::linear: return LrKind::warmup_linear;
  }
  return LrKind::constant;
}

template <class V>
void write_ds(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, hid_t file_t,
              hid_t mem_t, const V* data) {
  h5::Handle space = h5::check(H5Screate_simple(int(dims.size()), dims.data(), nullptr), name);
  h5::Handle ds = h5::check(
      H5Dcreate2(loc, name.c_str(), file_t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name);
  h5::check(H5Dwrite(ds, mem_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), name);
}

void write_doubles(hid_t loc, const std::string& name, const std::vector<double>& v) {
  write_ds(loc, name, {hsize_t(v.size())}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v.data());
}

template <class T>
Trajectory run(const RunConfig& cfg, const std::string& out, long stop, long from) {
  require(cfg.model.family == Family::gpt, "trajectory: model.family must be \"gpt\" (the "
          "PyTorch trajectory reference trains GPT), got \"", to_string(cfg.model.family), "\"");
  require(cfg.model.dropout == 0, "trajectory: model.dropout is ", cfg.model.dropout,
          " but the PyTorch reference has no dropout; set model.dropout=0");
  require(cfg.train.optimizer == OptimizerKind::adamw,
          "trajectory: train.optimizer must be \"adamw\" (the reference follows AdamW only)");
  require(cfg.data.name == "english", "trajectory: data.name must be \"english\" for gpt, got \"",
          cfg.data.name, "\"");

  // Threads change the ops' summation order: the same count as lpt train gives the same bits.
  if (cfg.train.threads > 0) omp_set_num_threads(cfg.train.threads);
  // The data and the model, as lpt train's GPT task builds them (train/task.cpp).
  const std::vector<std::string> lines = load_english(cfg.data.dir);
  const Tokenizer tok = cfg.data.tokenizer == "char" ? Tokenizer::chars(lines) : Tokenizer::bytes();
  GptDataOptions o;
  o.batch = cfg.train.batch;
  o.seed = cfg.train.seed;
  o.val_fraction = cfg.data.val_fraction;
  o.split_seed = cfg.data.seed;
  o.seq_len = cfg.model.max_len;
  GptLoader loader(lines, tok, o);
  const int vocab = cfg.model.vocab == 0 ? tok.vocab_size() : cfg.model.vocab;
  require(vocab >= tok.vocab_size(), "model.vocab = ", vocab, " is smaller than the tokenizer's ",
          tok.vocab_size(), " symbols; set it to 0 or larger");
  const ModelConfig mc = model_dims(cfg.model, vocab, 0, 0);
  GptModel<float> init32(mc);
  init32.init(cfg.train.seed);
  GptModel<T> model(mc);
  ParamStore<T>& p = model.params();
  std::copy(init32.params().values(), init32.params().values() + p.size(), p.values());

  AdamW<T> opt(p.size());
  opt.set_betas(cfg.train.betas[0], cfg.train.betas[1]);
  opt.set_eps(cfg.train.eps);
  opt.set_weight_decay(cfg.train.weight_decay);
  opt.set_groups(no_decay_groups(p.entries()));
  const LrSchedule sched(schedule_kind(cfg.train.schedule), cfg.train.lr, cfg.train.min_lr,
                         cfg.train.warmup, cfg.train.steps);
  TrainStep<T> ts(model, &opt);
  ts.set_max_grad_norm(cfg.train.clip);

  const long S = stop > 0 && stop < cfg.train.steps ? stop : cfg.train.steps;
  require(from >= 0 && from < S, "trajectory: --from ", from, " must lie in [0, ", S, ")");
  LmBatch b;
  auto step = [&](long s) {
    const double lr = sched.lr(s);
    opt.set_lr(lr);
    loader.next(b);
    model.set_batch(b);
    model.set_dropout_key(cfg.train.seed, std::uint64_t(s));
    return std::make_pair(ts.step(), lr);
  };
  for (long s = 0; s < from; ++s) step(s);

  const bool f64 = std::is_same<T, double>::value;
  const hid_t ft = f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
  const hid_t mt = f64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
  h5::Handle f = h5::check(H5Fcreate(out.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), out);
  {
    h5::Handle g = h5::open_or_create_group(f, "/params");
    std::vector<std::string> exempt;
    for (const ParamEntry& e : p.entries()) {
      std::vector<hsize_t> dims(e.shape.begin(), e.shape.end());
      write_ds(g, e.name, dims, ft, mt, p.values() + e.offset);
      if (exempt_from_decay(e.name, e.shape)) exempt.push_back(e.name);
    }
    if (from > 0) {  // AdamW's moments and step count, so the reference continues the same run
      h5::write_attr(f, "start_step", static_cast<long long>(from));
      for (const char* which : {"m", "v"}) {
        h5::Handle a = h5::open_or_create_group(f, std::string("/adam_") + which);
        for (const ParamEntry& e : p.entries()) {
          std::vector<hsize_t> dims(e.shape.begin(), e.shape.end());
          write_ds(a, e.name, dims, ft, mt, opt.state(which) + e.offset);
        }
      }
    }
    const nlohmann::json c = {{"d_model", mc.d_model}, {"heads", mc.heads}, {"d_ff", mc.d_ff},
                              {"layers", mc.layers},   {"vocab", mc.vocab}, {"max_len", mc.max_len},
                              {"h", mc.h}, {"label_smoothing", mc.label_smoothing},
                              {"dtype", f64 ? "float64" : "float32"}};
    const nlohmann::json oj = {{"betas", {cfg.train.betas[0], cfg.train.betas[1]}},
                               {"eps", cfg.train.eps},
                               {"weight_decay", cfg.train.weight_decay},
                               {"clip", cfg.train.clip}};
    h5::write_attr(f, "family", std::string("gpt"));
    h5::write_attr(f, "config", c.dump());
    h5::write_attr(f, "optimizer", oj.dump());
    h5::write_attr(f, "no_decay", exempt);
    h5::write_attr(f, "lpt_config", cfg.resolved_string());
  }

  Trajectory tr;
  std::vector<long long> tokens, targets;
  for (long s = from; s < S; ++s) {
    const auto [st, lr] = step(s);
    tr.loss.push_back(st.loss);
    tr.grad_norm.push_back(st.grad_norm);
    tr.lr.push_back(lr);
    tokens.insert(tokens.end(), b.tokens.begin(), b.tokens.end());
    targets.insert(targets.end(), b.targets.begin(), b.targets.end());
  }
  h5::Handle g = h5::open_or_create_group(f, "/batches");
  const std::vector<hsize_t> dims{hsize_t(S - from), hsize_t(b.B), hsize_t(b.T)};
  write_ds(g, "tokens", dims, H5T_STD_I64LE, H5T_NATIVE_LLONG, tokens.data());
  write_ds(g, "targets", dims, H5T_STD_I64LE, H5T_NATIVE_LLONG, targets.data());
  write_doubles(f, "lr", tr.lr);
  h5::Handle l = h5::open_or_create_group(f, "/lpt");
  write_doubles(l, "loss", tr.loss);
  write_doubles(l, "grad_norm", tr.grad_norm);
  return tr;
}

}  // namespace

Trajectory export_trajectory(const RunConfig& cfg, bool float64, const std::string& out,
                             long stop, long from) {
  return float64 ? run<double>(cfg, out, stop, from) : run<float>(cfg, out, stop, from);
}

}  // namespace lpt
