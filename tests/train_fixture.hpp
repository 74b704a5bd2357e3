#pragma once
// Running `lpt train` in-process from a test: plain progress lines into `log`, optionally stopping
// early (as if killed), resuming, or on a given communicator.
#include <mpi.h>

#include <ostream>
#include <string>

#include "train/config.hpp"
#include "train/trainer.hpp"

namespace lpt::test {

inline TrainSummary run_train(const RunConfig& c, std::ostream& log, long stop_after = -1,
                              std::string resume = "", MPI_Comm comm = MPI_COMM_WORLD) {
  TrainOptions o;
  o.out = &log;
  o.tty = 0;
  o.stop_after = stop_after;
  o.resume = std::move(resume);
  o.comm = comm;
  return train(c, o);
}

}  // namespace lpt::test
