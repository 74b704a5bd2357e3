// The pipeline schedules' order of work per rank (train/pipeline_step.hpp), replayed with unit
// costs: every rank's list is runnable (no rank waits for work scheduled after its own), the
// states a rank holds at once are those the schedules promise, and the makespan is the hand
// count (k + P − 1)(f + b) of both schedules when every stage costs the same.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "train/pipeline_step.hpp"

namespace {

using lpt::PipelineSchedule;
using lpt::PipelineStep;

struct Replay {
  double makespan = 0;
  std::vector<int> peak;  // micro-batches in flight per rank
  bool complete = false;
};

// F(i) on rank p needs F(i) done on p − 1; B(i) needs B(i) done on p + 1 (and F(i) here).
Replay replay(PipelineSchedule s, int k, int P, double f, double b) {
  std::vector<std::vector<std::pair<bool, int>>> ops(P);
  for (int p = 0; p < P; ++p) ops[p] = PipelineStep::order(s, k, p, P);
  std::map<std::tuple<bool, int, int>, double> done;  // (forward, mb, rank) -> finish time
  std::vector<std::size_t> pc(P, 0);
  std::vector<double> clock(P, 0);
  Replay r;
  r.peak.assign(P, 0);
  std::vector<int> live(P, 0);
  bool progress = true;
  while (progress) {
    progress = false;
    for (int p = 0; p < P; ++p) {
      while (pc[p] < ops[p].size()) {
        const auto [fwd, mb] = ops[p][pc[p]];
        const int from = fwd ? p - 1 : p + 1;
        double ready = clock[p];
        if (from >= 0 && from < P) {
          auto it = done.find({fwd, mb, from});
          if (it == done.end()) break;  // waits for a neighbour
          ready = std::max(ready, it->second);
        }
        clock[p] = ready + (fwd ? f : b);
        done[{fwd, mb, p}] = clock[p];
        live[p] += fwd ? 1 : -1;
        r.peak[p] = std::max(r.peak[p], live[p]);
        ++pc[p];
        progress = true;
      }
    }
  }
  r.complete = true;
  for (int p = 0; p < P; ++p) r.complete = r.complete && pc[p] == ops[p].size();
  r.makespan = *std::max_element(clock.begin(), clock.end());
  return r;
}

}  // namespace

TEST(Pipeline, OneFOneBOrderByHand) {
  using V = std::vector<std::pair<bool, int>>;
  // P = 4, k = 4: rank 0 warms up with 3 forwards, the last rank alternates from the start.
  EXPECT_EQ(PipelineStep::order(PipelineSchedule::one_f_one_b, 4, 0, 4),
            (V{{true, 0}, {true, 1}, {true, 2}, {true, 3}, {false, 0}, {false, 1}, {false, 2},
               {false, 3}}));
  EXPECT_EQ(PipelineStep::order(PipelineSchedule::one_f_one_b, 4, 3, 4),
            (V{{true, 0}, {false, 0}, {true, 1}, {false, 1}, {true, 2}, {false, 2}, {true, 3},
               {false, 3}}));
  EXPECT_EQ(PipelineStep::order(PipelineSchedule::gpipe, 2, 1, 4),
            (V{{true, 0}, {true, 1}, {false, 1}, {false, 0}}));
}

TEST(Pipeline, SchedulesRunAndHoldWhatTheyPromise) {
  for (int P : {1, 2, 3, 4, 8})
    for (int k : {1, 2, 3, 4, 8, 16}) {
      SCOPED_TRACE(testing::Message() << "P " << P << " k " << k);
      const Replay a = replay(PipelineSchedule::one_f_one_b, k, P, 1, 2);
      const Replay g = replay(PipelineSchedule::gpipe, k, P, 1, 2);
      ASSERT_TRUE(a.complete);
      ASSERT_TRUE(g.complete);
      for (int p = 0; p < P; ++p) {
        EXPECT_EQ(a.peak[p], std::min(k, P - p)) << "rank " << p;  // 1F1B: at most P − p
        EXPECT_EQ(g.peak[p], k) << "rank " << p;                   // GPipe: all k
      }
      // Equal stages, no messages: the classic count (k + P − 1)(f + b) for both.
      EXPECT_DOUBLE_EQ(a.makespan, (k + P - 1) * 3.0);
      EXPECT_DOUBLE_EQ(g.makespan, (k + P - 1) * 3.0);
    }
}
