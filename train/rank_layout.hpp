#pragma once
// The run's communicators under train.data_groups = D: the world splits into D groups of P
// consecutive ranks (each solves the layers for its share of every batch) and, across groups,
// the ranks of one position (they sum the groups' gradients in a fixed order). With one group
// the group is the world. docs/config.md "Data-parallel groups".
#include <mpi.h>

#include <cstddef>
#include <vector>

namespace lpt {

class RankLayout {
 public:
  // Throws lpt::Error when `groups` does not divide the world's size (naming mpirun -np D*P).
  RankLayout(MPI_Comm world, int groups);
  ~RankLayout();
  RankLayout(const RankLayout&) = delete;
  RankLayout& operator=(const RankLayout&) = delete;

  int rank() const { return rank_; }         // in the world (rank 0 writes)
  int world() const { return world_; }
  int ranks() const { return ranks_; }       // P: ranks of one group
  int groups() const { return groups_; }     // D
  int group() const { return group_; }
  MPI_Comm group_comm() const { return group_comm_; }
  // Which share of every batch this group trains on. Group 0 (whose rank 0 writes the record)
  // takes the last, so that its gradient check measures what one group's check measures with
  // accumulation: the step's last micro-batch.
  int share() const { return groups_ - 1 - group_; }

  // Sum over the groups, in share order (the same bits on every rank and every P), of this
  // rank's n values; in place.
  template <class T>
  void sum_over_groups(T* v, std::size_t n);

 private:
  int groups_ = 1, rank_ = 0, world_ = 1, ranks_ = 1, group_ = 0;
  MPI_Comm group_comm_ = MPI_COMM_NULL, cross_comm_ = MPI_COMM_NULL;
  std::vector<char> gathered_;
};

template <class T>
void RankLayout::sum_over_groups(T* v, std::size_t n) {
  if (groups_ == 1) return;
  gathered_.resize(n * sizeof(T) * groups_);
  MPI_Allgather(v, int(n * sizeof(T)), MPI_BYTE, gathered_.data(), int(n * sizeof(T)), MPI_BYTE,
                cross_comm_);
  const T* all = reinterpret_cast<const T*>(gathered_.data());
  auto of_share = [&](int d, std::size_t i) { return all[(groups_ - 1 - d) * n + i]; };
  for (std::size_t i = 0; i < n; ++i) {
    T s = of_share(0, i);
    for (int d = 1; d < groups_; ++d) s += of_share(d, i);
    v[i] = s;
  }
}

}  // namespace lpt
