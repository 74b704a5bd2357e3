#pragma once
// Work of one operation (a layer's forward step, its state VJP, ...) as a list of kernels, each with
// its FLOPs and the bytes it moves to and from device memory. Keeping the kernels separate, rather
// than only totals, lets the time model apply a roofline per kernel (a GEMM is compute-bound, a
// LayerNorm memory-bound) and charge one launch overhead per kernel.
#include <string>
#include <vector>

namespace lpt::perf {

enum class KernelClass { gemm, elementwise };

struct Kernel {
  std::string name;
  KernelClass cls = KernelClass::elementwise;
  double flops = 0;  // floating-point operations (a multiply-add counts 2)
  double bytes = 0;  // bytes read + written in device memory
};

class OpCost {
 public:
  // C[batch][M,N] = A[batch][M,K] · B[batch][K,N]: 2·M·N·K FLOPs per batch entry, each operand
  // read once and C written once (elem_bytes per element).
  void gemm(const std::string& name, double M, double N, double K, double batch,
            double elem_bytes);
  // An element-wise or row-wise kernel over `elements` outputs that reads `reads` and writes
  // `writes` tensors of that size and spends `flops_per_elem` per output element.
  void elementwise(const std::string& name, double elements, double reads, double writes,
                   double flops_per_elem, double elem_bytes);
  void add(const Kernel& k) { kernels_.push_back(k); }
  void append(const OpCost& other);

  const std::vector<Kernel>& kernels() const { return kernels_; }
  int kernel_count() const { return static_cast<int>(kernels_.size()); }
  double flops() const;
  double gemm_flops() const;
  double bytes() const;

 private:
  std::vector<Kernel> kernels_;
};

}  // namespace lpt::perf
