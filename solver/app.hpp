#pragma once
// What an application gives the MGRIT solver (XBraid-like): opaque states with vector operations,
// the time step Φ_n, and its adjoint. The solver never looks inside a state.
#include <cstddef>
#include <functional>
#include <memory>

namespace lpt::mgrit {

// An opaque state u[n] (or adjoint λ[n]). Applications derive from it; see flat_app.hpp.
struct Vector {
  virtual ~Vector() = default;
};
using VectorPtr = std::unique_ptr<Vector>;

// Everything the application is told about one evaluation of Φ (or of its adjoint).
struct StepInfo {
  int level = 0;          // 0 = finest
  long layer = 0;         // fine layer whose parameters the step uses (chosen by the ParamPolicy)
  long fine_begin = 0;    // fine index of the step's left end (forward time)
  long fine_end = 0;      // fine index of its right end; fine_end - fine_begin = stride of level
  double h = 0;           // step size: (fine_end - fine_begin) * fine h
  bool keep_tape = false; // forward, final sweep on level 0: the app may keep a tape for `layer`
  bool tape_valid = false;// adjoint: the tape the app kept for `layer` belongs to this very u
};

// Which fine layer's parameters a coarse step uses. Default: injection, the left end's layer.
// (level, fine_begin, fine_end) -> layer in [fine_begin, fine_end).
using ParamPolicy = std::function<long(int level, long fine_begin, long fine_end)>;
inline long inject_left(int, long fine_begin, long) { return fine_begin; }

class App {
 public:
  virtual ~App() = default;

  // ---- vector operations (must be thread-safe for distinct vectors) ----
  virtual VectorPtr alloc_like(const Vector& x) const = 0;  // same shape, zero-filled
  virtual void copy(const Vector& x, Vector& y) const = 0;  // y = x
  // y = a x + b y
  virtual void axpby(double a, const Vector& x, double b, Vector& y) const = 0;
  // squared 2-norm, summed in a fixed order (the solver's bit-identity across ranks rests on it)
  virtual double norm_sq(const Vector& x) const = 0;
  virtual std::size_t packed_bytes(const Vector& x) const = 0;
  virtual void pack(const Vector& x, void* buf) const = 0;
  virtual void unpack(const void* buf, Vector& x) const = 0;

  // ---- the problem ----
  // out = Φ(u): the step of `s.layer` with size s.h. Called concurrently for distinct outputs
  // when the solver uses threads (then omp_in_parallel() is true inside).
  virtual void step(const StepInfo& s, const Vector& u, Vector& out) = 0;

  // Adjoint of the step at the stored state u: if lam_out, lam_out = Φ'(u)^T lam_next; if
  // param_grad, accumulate (∂Φ/∂θ_layer)^T lam_next into the app's gradient of s.layer.
  // The solver asks for param_grad exactly once per layer per adjoint solve (final sweep).
  virtual void backward(const StepInfo& s, const Vector& u, const Vector& lam_next,
                        Vector* lam_out, bool param_grad);

  // Initial guess of the forward state at fine index n > 0; default: u0.
  virtual void init_guess(long n, const Vector& u0, Vector& u) const { copy(u0, u); }
};

}  // namespace lpt::mgrit
