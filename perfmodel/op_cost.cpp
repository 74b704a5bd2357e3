#include "perfmodel/op_cost.hpp"

namespace lpt::perf {

void OpCost::gemm(const std::string& name, double M, double N, double K, double batch,
                  double elem_bytes) {
  Kernel k;
  k.name = name;
  k.cls = KernelClass::gemm;
  k.flops = 2.0 * M * N * K * batch;
  k.bytes = (M * K + K * N + M * N) * batch * elem_bytes;
  kernels_.push_back(k);
}

void OpCost::elementwise(const std::string& name, double elements, double reads, double writes,
                         double flops_per_elem, double elem_bytes) {
  Kernel k;
  k.name = name;
  k.cls = KernelClass::elementwise;
  k.flops = elements * flops_per_elem;
  k.bytes = elements * (reads + writes) * elem_bytes;
  kernels_.push_back(k);
}

void OpCost::append(const OpCost& other) {
  kernels_.insert(kernels_.end(), other.kernels_.begin(), other.kernels_.end());
}

double OpCost::flops() const {
  double s = 0;
  for (const auto& k : kernels_) s += k.flops;
  return s;
}

double OpCost::gemm_flops() const {
  double s = 0;
  for (const auto& k : kernels_)
    if (k.cls == KernelClass::gemm) s += k.flops;
  return s;
}

double OpCost::bytes() const {
  double s = 0;
  for (const auto& k : kernels_) s += k.bytes;
  return s;
}

}  // namespace lpt::perf
