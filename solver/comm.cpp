#include "solver/comm.hpp"

#include <omp.h>

#include "util/error.hpp"

namespace lpt::mgrit {

Comm::Comm(MPI_Comm comm, bool mirrored) : comm_(comm), mirrored_(mirrored) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin && comm != MPI_COMM_NULL) {
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &size_);
    mpi_ = size_ > 1;
  }
  pos_ = mirrored_ ? size_ - 1 - rank_ : rank_;
}

Comm Comm::simulated(int pos, int size, bool mirrored) {
  require(size >= 1 && pos >= 0 && pos < size, "simulated Comm: position ", pos,
          " is not in 0..", size - 1);
  Comm c(MPI_COMM_NULL, mirrored);
  c.size_ = size;
  c.pos_ = pos;
  c.rank_ = c.rank_of(pos);
  return c;
}

double Comm::ordered_sum(const std::vector<double>& local, double* wait_time) const {
  std::vector<double> all = local;
  if (mpi_) {
    const double t0 = omp_get_wtime();
    int n = int(local.size());
    std::vector<int> counts(size_), displs(size_);
    MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_);
    // Lay the values out in position order, whatever the rank order.
    int total = 0;
    for (int p = 0; p < size_; ++p) {
      displs[rank_of(p)] = total;
      total += counts[rank_of(p)];
    }
    all.assign(total, 0.0);
    MPI_Allgatherv(local.data(), n, MPI_DOUBLE, all.data(), counts.data(), displs.data(),
                   MPI_DOUBLE, comm_);
    if (wait_time) *wait_time += omp_get_wtime() - t0;
  }
  double s = 0;
  for (double x : all) s += x;
  return s;
}

void Comm::sum_longs(std::vector<long>& v) const {
  if (mpi_) MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_LONG, MPI_SUM, comm_);
}

}  // namespace lpt::mgrit
