#pragma once
// main() of the MPI tests: GoogleTest on every rank, printing on rank 0 only, failing when any
// rank fails.
#include <gtest/gtest.h>
#include <mpi.h>

namespace lpt::test {

inline int mpi_gtest_main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& l = ::testing::UnitTest::GetInstance()->listeners();
    delete l.Release(l.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return rc;
}

}  // namespace lpt::test
