#include "train/rank_layout.hpp"

#include "util/error.hpp"

namespace lpt {

RankLayout::RankLayout(MPI_Comm world, int groups) : groups_(groups) {
  int init = 0;
  MPI_Initialized(&init);
  if (init) {
    MPI_Comm_rank(world, &rank_);
    MPI_Comm_size(world, &world_);
  }
  require(world_ % groups == 0, "train.data_groups = ", groups, " does not divide the ", world_,
          " rank", world_ == 1 ? "" : "s", " of the run; start D*P ranks (mpirun -np ", groups,
          "*P) for D = ", groups, " groups of P ranks each, or set train.data_groups to a "
          "divisor of ", world_);
  ranks_ = world_ / groups;
  group_ = rank_ / ranks_;
  group_comm_ = world;
  if (groups > 1) {
    MPI_Comm_split(world, group_, rank_, &group_comm_);
    MPI_Comm_split(world, rank_ % ranks_, group_, &cross_comm_);
  }
}

RankLayout::~RankLayout() {
  if (groups_ == 1) return;  // the group is the caller's world: not ours to free
  MPI_Comm_free(&group_comm_);
  MPI_Comm_free(&cross_comm_);
}

}  // namespace lpt
