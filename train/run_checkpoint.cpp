#include "util/version.hpp"
#include "train/run_checkpoint.hpp"

#include "util/checkpoint_io.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {
constexpr const char* kFormat = "lpt-train-checkpoint";
constexpr long long kVersion = 1;

void check_format(const CheckpointReader& r) {
  require(r.has_attr("format") && r.attr_string("format") == kFormat, r.path(),
          " is not an lpt training checkpoint (no format attribute '", kFormat,
          "'); pass a file written by `lpt train` with output.checkpoint set");
  require(r.attr_int("version") == kVersion, r.path(), ": checkpoint version ",
          r.attr_int("version"), " is not the supported ", kVersion);
}
}  // namespace

void save_checkpoint(const std::string& path, const std::string& resolved_config,
                     const nlohmann::json& tokenizers, const ParamStore<float>& params,
                     const Optimizer<float>& opt, const RunState& state) {
  CheckpointWriter w(path);
  w.set_attr("format", kFormat);
  w.set_attr("version", kVersion);
  w.set_attr("lpt_version", version());
  w.set_attr("step", static_cast<long long>(state.step));
  w.put_string("config", resolved_config);
  w.put_string("tokenizers", tokenizers.dump());
  for (const auto& e : params.entries())
    w.put("params/" + e.name, params.values() + e.offset, Shape(e.shape));
  const std::int64_t count = opt.step_count();
  w.put("optimizer/step_count", &count, Shape{1});
  for (const auto& name : opt.state_names())
    w.put("optimizer/" + name, opt.state(name), Shape{static_cast<std::int64_t>(opt.size())});
  w.put("data/state", state.data_state);
  if (!state.control.empty()) w.put("control/state", state.control);
  for (const auto& [dset, rows] : state.record_rows) {
    const std::int64_t r = rows;
    w.put("record_rows" + dset, &r, Shape{1});
  }
  w.commit();
}

std::string checkpoint_config(const std::string& path) {
  CheckpointReader r(path);
  check_format(r);
  return r.read_string("config");
}

RunState load_checkpoint(const std::string& path, ParamStore<float>& params,
                         Optimizer<float>& opt) {
  CheckpointReader r(path);
  check_format(r);
  for (const auto& e : params.entries())
    r.read("params/" + e.name, params.values() + e.offset, Shape(e.shape));
  std::int64_t count = 0;
  r.read("optimizer/step_count", &count, Shape{1});
  opt.set_step_count(count);
  for (const auto& name : opt.state_names())
    r.read("optimizer/" + name, opt.state(name), Shape{static_cast<std::int64_t>(opt.size())});
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

}  // namespace lpt
