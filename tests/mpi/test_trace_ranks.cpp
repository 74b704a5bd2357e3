// The schedule simulator's premise: a Core on a simulated Comm (position p of P, no MPI) performs
// exactly the events the same Core performs as rank p of a real P-rank run. Each rank records its
// event sequence through a Trace on MPI_COMM_WORLD, then replays its position in-process on
// Comm::simulated; the two sequences must be equal, forward and (mirrored) adjoint. Run by ctest
// under mpirun on 1, 2, 3 and 4 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "solver/core.hpp"
#include "solver/ode_problems.hpp"

using namespace lpt::mgrit;

namespace {

class OdeStep : public Propagator {
 public:
  OdeStep(OdeProblem& p, bool adjoint) : p_(p), adjoint_(adjoint) {}
  bool adjoint() const override { return adjoint_; }
  void step(int level, long fb, long fe, const Vector& in, Vector& out, bool) override {
    StepInfo s;
    s.level = level;
    s.layer = fb;
    s.fine_begin = fb;
    s.fine_end = fe;
    s.h = p_.h() * double(fe - fb);
    p_.step(s, in, out);  // the adjoint's values do not matter here, only its schedule
  }

 private:
  OdeProblem& p_;
  bool adjoint_;
};

struct Recorder : Trace {
  std::vector<std::string> ev;
  void step(int level, long fb, long fe, bool final) override {
    std::ostringstream os;
    os << "step " << level << " " << fb << " " << fe << " " << final;
    ev.push_back(os.str());
  }
  void vector_ops(int n) override { ev.push_back("vec " + std::to_string(n)); }
  void send(int to, std::size_t bytes, int tag) override {
    ev.push_back("send " + std::to_string(to) + " " + std::to_string(bytes) + " " +
                 std::to_string(tag));
  }
  void wait_recv(int from, std::size_t bytes, int tag) override {
    ev.push_back("recv " + std::to_string(from) + " " + std::to_string(bytes) + " " +
                 std::to_string(tag));
  }
  void reduce() override { ev.push_back("reduce"); }
};

std::vector<std::string> record(const Comm& comm, bool adjoint) {
  const long N = 96;
  OdeProblem p(OdeKind::cubic, N, 1.0, 0.9, 3);
  OdeStep prop(p, adjoint);
  CycleOptions o;
  o.set_max_levels(3);
  o.set_cfactor(2);
  o.set_relax(Relax::FCF);
  o.set_skip(true);
  o.set_abs_tol(0);
  o.set_max_iter(3);
  Core core(p, prop, o, N, comm, 1);
  Recorder rec;
  core.set_trace(&rec);
  auto u0 = p.make(p.u0().data());
  core.reset(*u0, [&](long n, Vector& u) { p.init_guess(n, *u0, u); }, false);
  core.run({});
  return rec.ev;
}

}  // namespace

TEST(TraceRanks, SimulatedPositionPerformsTheRealRanksEvents) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (bool adjoint : {false, true}) {
    SCOPED_TRACE(adjoint ? "adjoint (mirrored)" : "forward");
    const Comm real(MPI_COMM_WORLD, adjoint);
    const auto on_mpi = record(real, adjoint);
    const auto simulated = record(Comm::simulated(real.pos(), size, adjoint), adjoint);
    // No early return: every rank must reach the next solve's MPI calls.
    EXPECT_EQ(on_mpi.size(), simulated.size()) << "rank " << rank;
    for (std::size_t i = 0; i < std::min(on_mpi.size(), simulated.size()); ++i)
      if (on_mpi[i] != simulated[i]) {
        ADD_FAILURE() << "rank " << rank << ", event " << i << ": MPI '" << on_mpi[i]
                      << "', simulated '" << simulated[i] << "'";
        break;
      }
    if (size > 1) {  // neighbours really talked
      long sends = 0;
      for (const auto& e : on_mpi) sends += e.rfind("send", 0) == 0;
      const bool last = real.pos() == size - 1;
      EXPECT_EQ(sends > 0, !last) << "rank " << rank;
    }
  }
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  MPI_Finalize();
  return rc;
}
