#pragma once
// Evaluation and decoding of a model split over ranks (adaptive/param_shards.hpp): the state
// starts on rank 0, visits each owner's block of layers in rank order and comes back, so that
// rank 0 closes with the same bits as one rank running every layer.
#include <mpi.h>

#include "adaptive/param_shards.hpp"
#include "model/model.hpp"

namespace lpt {

template <class T>
class RankRunner : public LayerRunner<T> {
 public:
  // The shards must outlive this.
  explicit RankRunner(const ParamShards& shards) : sh_(shards) {}
  bool root() const override { return sh_.rank() == 0; }
  void forward(Model<T>& m, T* u, int n0, int n1) override;
  void share(void* p, std::size_t bytes) override;

 private:
  const ParamShards& sh_;
};

extern template class RankRunner<float>;
extern template class RankRunner<double>;

}  // namespace lpt
