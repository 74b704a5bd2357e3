#pragma once
// A sink for the schedule a Core performs, event by event in program order: step evaluations,
// vector operations, messages and reductions. The schedule simulator (perfmodel/schedule_sim)
// attaches one per virtual rank so that it replays exactly what the solver does, from the
// solver's own code. Without a trace the Core pays one null-pointer test per event.
#include <cstddef>

namespace lpt::mgrit {

class Trace {
 public:
  virtual ~Trace() = default;
  // One evaluation of Φ (or its adjoint) on `level` over fine indices [fine_begin, fine_end) of
  // the solve's own time axis; `final` marks the final level-0 sweep (tapes, parameter gradients).
  virtual void step(int level, long fine_begin, long fine_end, bool final) = 0;
  // `count` copies / axpby / norms / packs over one state each.
  virtual void vector_ops(int count) = 0;
  // A message to rank `to` leaves now (non-blocking for the sender).
  virtual void send(int to, std::size_t bytes, int tag) = 0;
  // This rank waits here for the next message from rank `from` with `tag`.
  virtual void wait_recv(int from, std::size_t bytes, int tag) = 0;
  // A collective over every rank of the solve (residual norm, counters): all wait for all.
  virtual void reduce() = 0;
};

}  // namespace lpt::mgrit
