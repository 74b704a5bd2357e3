#pragma once
// The solver's view of MPI: positions in time order (the adjoint runs time backwards, so it
// mirrors positions onto ranks), neighbours, and an order-fixed sum. Without MPI_Init (serial
// tests and tools), it is a single position and makes no MPI call. A simulated Comm is one
// position of many with no MPI at all: the schedule simulator runs each virtual rank's Core on it.
#include <mpi.h>

#include <vector>

namespace lpt::mgrit {

class Comm {
 public:
  explicit Comm(MPI_Comm comm = MPI_COMM_WORLD, bool mirrored = false);

  // Position `pos` of `size` for the schedule simulator: the Core behaves as on `size` ranks but
  // makes no MPI call (its messages go only to its Trace).
  static Comm simulated(int pos, int size, bool mirrored);

  bool mpi() const { return mpi_; }   // MPI calls are made (initialised and > 1 rank)
  bool parallel() const { return size_ > 1; }  // neighbours exist (real or simulated)
  int rank() const { return rank_; }
  int size() const { return size_; }
  int pos() const { return pos_; }    // position in time order
  bool mirrored() const { return mirrored_; }
  int rank_of(int pos) const { return mirrored_ ? size_ - 1 - pos : pos; }
  MPI_Comm comm() const { return comm_; }

  // Sum of all positions' values in position order then local order: the same bits on any
  // number of ranks. `local` holds this position's values.
  double ordered_sum(const std::vector<double>& local, double* wait_time) const;
  void sum_longs(std::vector<long>& v) const;  // in place, over ranks

 private:
  MPI_Comm comm_;
  bool mirrored_;
  bool mpi_ = false;
  int rank_ = 0, size_ = 1, pos_ = 0;
};

}  // namespace lpt::mgrit
