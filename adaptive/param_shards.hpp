#pragma once
// A model split over the P ranks of a communicator (issue 12, docs/memory.md "Ownership"): each
// layer has one owner, which keeps its parameters, gradient sum and optimizer state; a rank whose
// solves also read a layer it does not own (a coarse adjoint step reaching into the next block, a
// solve that splits time differently) holds a ghost copy of its parameters. The opening and
// closing tensors (embeddings, head) are owned by rank 0, which opens and closes every solve;
// a pipeline's last rank, which closes there, holds ghosts of them.
//
// Keeping the split consistent takes two exchanges per optimizer step, both in a fixed order so
// that the bits never depend on P:
//   reduce_ghost_grads  after a gradient: every ghost's gradient goes to the owner, which adds the
//                       copies in rank order to its own (exactly one of them is non-zero for a
//                       layer, x + 0 being exact; a pipeline's tied embedding has two);
//   refresh_ghosts      after the update: owners send the new values to the ghosts.
// Global sums over the model (the clipping norm, the gradient monitor's dot products) are taken
// per tensor or segment, summed over the ranks (sum_by_index) and then added in registration
// order, the same bits on every P.
//
//   ParamShards sh(comm, owners, reads, end_ghosts, layer_of);   // train/model_split.cpp
//   cfg.roles = sh.roles();   // the model allocates only what this rank holds
//   ... lp.forward_backward() (reduces the ghosts' gradients) ... update ... sh.refresh_ghosts(p);
#include <mpi.h>

#include <functional>
#include <string>
#include <vector>

#include "model/params.hpp"

namespace lpt {

class ParamShards {
 public:
  // owner[n]: the rank owning layer n (N = owner.size()); reads[r]: the layers rank r's work reads
  // (its own and others'); end_ghosts: ranks other than 0 that read the opening and closing
  // tensors; layer_of(name): the chain layer a tensor belongs to, -1 for opening/closing ones.
  ParamShards(MPI_Comm comm, std::vector<int> owner, std::vector<std::vector<long>> reads,
              std::vector<int> end_ghosts, std::function<int(const std::string&)> layer_of);
  // One rank: every tensor owned, every exchange a no-op.
  ParamShards() = default;

  int rank() const { return rank_; }
  int ranks() const { return size_; }
  MPI_Comm comm() const { return comm_; }
  bool split() const { return size_ > 1; }
  // This rank's roles, for ModelConfig::roles (empty on one rank: the whole model).
  ParamRoles roles() const;
  ParamRole role(int rank, const std::string& name) const;
  int owner_of_layer(long n) const { return owner_[n]; }
  int owner_of(const std::string& name) const;
  // Owned layers of each rank as blocks in rank order: [first_layer(r), first_layer(r + 1)).
  long first_layer(int r) const { return first_[r]; }
  // Layers of [lo, hi) that `rank` owns, and that it holds as ghosts.
  std::pair<long, long> layers_held(int rank, long lo, long hi) const;
  // Whether `rank` holds the opening and closing tensors (owned on 0, ghosts on a pipeline's last).
  bool holds_ends(int rank) const;

  template <class T>
  void refresh_ghosts(ParamStore<T>& p) const;
  template <class T>
  void reduce_ghost_grads(ParamStore<T>& p) const;
  // v[i] summed over the ranks, element by element (each index filled on one rank: exact).
  void sum_by_index(std::vector<double>& v) const;

 private:
  struct Peer {
    int rank;
    std::vector<std::size_t> entries;  // registration indices, increasing
  };
  // The ghosts this rank receives from each owner and the ones it serves to each ghost holder,
  // made once per entry list (planned_for_: its length).
  void plan(const std::vector<ParamEntry>& entries) const;
  template <class T>
  void exchange(ParamStore<T>& p, bool grads) const;

  MPI_Comm comm_ = MPI_COMM_SELF;
  int rank_ = 0, size_ = 1;
  std::vector<int> owner_;
  std::vector<std::vector<char>> reads_;  // [rank][layer]
  std::vector<int> end_ghosts_;
  std::vector<long> first_;
  std::function<int(const std::string&)> layer_of_;
  mutable std::size_t planned_for_ = 0;
  mutable std::vector<Peer> from_owner_, to_ghost_;
};

}  // namespace lpt
