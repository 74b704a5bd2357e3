#include "util/version.hpp"
#include "train/run_checkpoint.hpp"

#include <filesystem>
#include <memory>

#include "util/checkpoint_io.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {
constexpr const char* kFormat = "lpt-train-checkpoint";
// 1: optimizer state as one array over the whole model's arena; 2: one array per tensor and state
// ("optimizer/m/<name>"), so that each owner's share can be written and read by name.
constexpr long long kVersion = 2;
constexpr int kTagCheckpoint = 95;

long long check_format(const CheckpointReader& r) {
  require(r.has_attr("format") && r.attr_string("format") == kFormat, r.path(),
          " is not an lpt training checkpoint (no format attribute '", kFormat,
          "'); pass a file written by `lpt train` with output.checkpoint set");
  const long long v = r.attr_int("version");
  require(v == 1 || v == kVersion, r.path(), ": checkpoint version ", v,
          " is not a supported one (1 or ", kVersion, ")");
  return v;
}
}  // namespace

void save_checkpoint(const std::string& path, const std::string& resolved_config,
                     const nlohmann::json& tokenizers, const ParamStore<float>& params,
                     const Optimizer<float>& opt, const RunState& state,
                     const ParamShards& shards) {
  const bool root = shards.rank() == 0;
  std::unique_ptr<CheckpointWriter> w;
  if (root) {
    w = std::make_unique<CheckpointWriter>(path);
    w->set_attr("format", kFormat);
    w->set_attr("version", kVersion);
    w->set_attr("lpt_version", version());
    w->set_attr("step", static_cast<long long>(state.step));
    w->put_string("config", resolved_config);
    w->put_string("tokenizers", tokenizers.dump());
  }
  // Tensor by tensor in registration order: rank 0 writes its own and receives the others' from
  // their owners, one at a time (no rank ever holds more than one foreign tensor).
  std::vector<float> buf;
  auto part = [&](const std::string& dset, const ParamEntry& e, const float* mine) {
    const int owner = shards.owner_of(e.name);
    if (root) {
      const float* data = mine;
      if (owner != 0) {
        buf.resize(e.numel);
        MPI_Recv(buf.data(), int(e.numel), MPI_FLOAT, owner, kTagCheckpoint, shards.comm(),
                 MPI_STATUS_IGNORE);
        data = buf.data();
      }
      w->put(dset, data, Shape(e.shape));
    } else if (owner == shards.rank()) {
      MPI_Send(mine, int(e.numel), MPI_FLOAT, 0, kTagCheckpoint, shards.comm());
    }
  };
  for (const auto& e : params.entries())
    part("params/" + e.name, e, e.owned() ? params.values() + e.offset : nullptr);
  for (const auto& name : opt.state_names())
    for (const auto& e : params.entries())
      part("optimizer/" + name + "/" + e.name, e, e.owned() ? opt.state(name) + e.offset : nullptr);
  if (!root) return;
  const std::int64_t count = opt.step_count();
  w->put("optimizer/step_count", &count, Shape{1});
  w->put("data/state", state.data_state);
  if (!state.control.empty()) w->put("control/state", state.control);
  for (const auto& [dset, rows] : state.record_rows) {
    const std::int64_t r = rows;
    w->put("record_rows" + dset, &r, Shape{1});
  }
  w->commit();
}

std::string checkpoint_config(const std::string& path) {
  CheckpointReader r(path);
  check_format(r);
  return r.read_string("config");
}

RunState load_checkpoint(const std::string& path, ParamStore<float>& params,
                         Optimizer<float>& opt) {
  CheckpointReader r(path);
  const long long version = check_format(r);
  // Each rank reads the tensors it holds (ghosts too) and the optimizer state of those it owns.
  for (const auto& e : params.entries())
    if (e.present()) r.read("params/" + e.name, params.values() + e.offset, Shape(e.shape));
  std::int64_t count = 0;
  r.read("optimizer/step_count", &count, Shape{1});
  opt.set_step_count(count);
  for (const auto& name : opt.state_names()) {
    std::vector<float> whole;  // version 1: the whole model's arena in one array
    if (version == 1) {
      whole.resize(params.global_size());
      r.read("optimizer/" + name, whole.data(),
             Shape{static_cast<std::int64_t>(params.global_size())});
    }
    for (const auto& e : params.entries()) {
      if (!e.owned()) continue;
      float* dst = opt.state(name) + e.offset;
      if (version == 1)
        std::copy(whole.begin() + e.global_offset, whole.begin() + e.global_offset + e.numel, dst);
      else
        r.read("optimizer/" + name + "/" + e.name, dst, Shape(e.shape));
    }
  }
  RunState s;
  s.step = r.attr_int("step");
  s.data_state = r.read<std::uint64_t>("data/state");
  const std::string prefix = "record_rows";
  for (const auto& name : r.names())
    if (name == "control/state") s.control = r.read<double>(name);
  for (const auto& name : r.names())
    if (name.compare(0, prefix.size(), prefix) == 0) {
      std::int64_t rows = 0;
      r.read(name, &rows, Shape{1});
      s.record_rows[name.substr(prefix.size())] = rows;
    }
  return s;
}

std::vector<std::string> split_prefixes(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    const auto b = cur.find_first_not_of(" \t");
    const auto e = cur.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
    cur.clear();
  };
  for (char c : list) {
    if (c == ',') flush();
    else cur += c;
  }
  flush();
  return out;
}

InitFromReport init_from_checkpoint(const std::string& path, ParamStore<float>& params,
                                    const std::vector<std::string>& skip) {
  require(std::filesystem::exists(path), "train.init_from: no file '", path, "'; give the "
          "output.checkpoint of an earlier run (a path relative to where lpt runs)");
  CheckpointReader r(path);
  check_format(r);
  InitFromReport rep;
  rep.checkpoint_step = r.attr_int("step");
  auto skipped = [&](const std::string& name) {
    for (const auto& p : skip)
      if (name.compare(0, p.size(), p) == 0) return true;
    return false;
  };
  for (const auto& e : params.entries()) {
    if (skipped(e.name)) {
      rep.skipped.push_back(e.name);
      continue;
    }
    const std::string ds = "params/" + e.name;
    require(r.has(ds), "train.init_from: ", path, " has no parameter '", e.name,
            "' (docs/parameters.md); a tensor the pretrained model lacks, such as a new "
            "head, stays at its initialization when train.init_skip lists a prefix of its name");
    require(r.shape(ds) == Shape(e.shape), "train.init_from: parameter '", e.name, "' is ",
            r.shape(ds).str(), " in ", path, " but ", Shape(e.shape).str(), " in this model; ",
            "match the model's sizes to the checkpoint's, or list a prefix of '", e.name,
            "' in train.init_skip to keep it at its initialization");
    ++rep.loaded;
  }
  for (const auto& p : skip) {
    bool any = false;
    for (const auto& e : params.entries()) any = any || e.name.compare(0, p.size(), p) == 0;
    require(any, "train.init_skip: '", p, "' is the prefix of no parameter of this model ",
            "(names: docs/parameters.md)");
  }
  for (const auto& e : params.entries())
    if (e.present() && !skipped(e.name))
      r.read("params/" + e.name, params.values() + e.offset, Shape(e.shape));
  return rep;
}

}  // namespace lpt
