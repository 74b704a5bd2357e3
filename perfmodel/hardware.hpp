#pragma once
// A hardware profile: what one rank (one GPU, or one CPU socket) sustains, and the links between
// ranks. Every figure is per rank and sustained (datasheet peak × an assumed fraction, both noted
// in the profile's "sources"). Profiles live in perfmodel/profiles/*.json; see docs/perfmodel.md §3.
#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "perfmodel/op_cost.hpp"

namespace lpt::perf {

struct Link {
  double latency_s = 0;  // α: one small message, end to end
  double bandwidth = 0;  // β: bytes/s one rank can push to a neighbour
};

struct HardwareProfile {
  std::string name;
  std::string description;
  std::string kind;  // "gpu" or "cpu"
  int ranks_per_node = 1;
  double gemm_flops_fp32 = 0;    // FLOP/s of large GEMMs on fp32 data (TF32 tensor cores on GPUs)
  double gemm_flops_bf16 = 0;    // FLOP/s of large GEMMs on bf16 data
  double vector_flops = 0;       // FLOP/s of element-wise code
  double memory_bandwidth = 0;   // bytes/s sustained (STREAM-like)
  double memory_capacity = 0;    // bytes usable by one rank
  double kernel_overhead_s = 0;  // per kernel: launch + gap (GPU) or parallel-region fork (CPU)
  Link intra_node;
  Link inter_node;
  std::map<std::string, std::string> sources;  // figure name -> where it comes from

  double gemm_flops(int act_bytes) const { return act_bytes == 2 ? gemm_flops_bf16 : gemm_flops_fp32; }
};

// Parses and validates: every key required, no unknown key, every figure positive and with an
// entry in "sources"; errors name the key and the file.
HardwareProfile profile_from_json(const nlohmann::json& j, const std::string& where);
HardwareProfile load_profile(const std::string& path);
// "h100_sxm" -> <source dir>/perfmodel/profiles/h100_sxm.json; a path (with '/' or ".json") as is.
std::string resolve_profile_path(const std::string& name_or_path);
nlohmann::json profile_to_json(const HardwareProfile& p);
// Writes a profile (e.g. this_machine.json after calibration) after validating it as the loader
// would, so that a saved profile always loads again.
void save_profile(const HardwareProfile& p, const std::string& path);

// Roofline per kernel: max(FLOPs / rate, bytes / bandwidth) + launch overhead.
double kernel_time(const Kernel& k, const HardwareProfile& hw, int act_bytes);
double op_time(const OpCost& op, const HardwareProfile& hw, int act_bytes);
// α + bytes/β.
double message_time(double bytes, const Link& link);

}  // namespace lpt::perf
