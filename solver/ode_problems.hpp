#pragma once
// Small ODEs that exercise the solver (reachable from `lpt mgrit` and the tests), each with a
// per-layer parameter θ[n] so the parameter-gradient hook is exercised, and a serial reference:
//   dahlquist:  u' = θ u (scalar; θ = λ), forward or backward Euler
//   oscillator: u' = [[0, 1], [-1, -θ]] u (damped oscillator, θ = damping), forward Euler
//   cubic:      u' = -θ u³ componentwise (nonlinear), forward Euler
// Objective for the adjoint: J = ½‖u[N]‖², so λ[N] = u[N] and dJ/dθ[n] = (∂Φ_n/∂θ)^T λ[n+1].
#include <string>
#include <vector>

#include "solver/flat_app.hpp"

namespace lpt::mgrit {

enum class OdeKind { dahlquist, oscillator, cubic };
OdeKind parse_ode(const std::string& s);

class OdeProblem : public FlatApp<double> {
 public:
  using Traj = std::vector<std::vector<double>>;

  // theta: the parameter of every layer; dim: unknowns (dahlquist 1, oscillator 2, cubic any).
  OdeProblem(OdeKind kind, long n_steps, double T, double theta, int dim = 0,
             bool backward_euler = false);

  long steps() const { return n_; }
  double h() const { return h_; }
  std::vector<double>& u0() { return u0_; }
  std::vector<double>& theta() { return theta_; }            // per layer
  std::vector<double>& dtheta() { return dtheta_; }          // accumulated by backward()
  // Extra arithmetic per step (result unchanged), for timing tests with little noise.
  void set_step_work(long flops) { work_ = flops; }
  // Initial guess u[n] = value for n > 0 (default: u0).
  void set_guess_value(double v);

  void phi(long layer, double h, const double* u, double* out) const;
  void phi_adjoint(long layer, double h, const double* u, const double* lam, double* lam_out,
                   double* dtheta) const;

  Traj serial_forward() const;
  // λ[n] for n = 0..N and dθ from serial back-propagation of J = ½‖u[N]‖².
  void serial_adjoint(const Traj& u, Traj* lam, std::vector<double>* dtheta) const;

 private:
  void burn() const;
  OdeKind kind_;
  long n_;
  double h_;
  int dim_;
  bool beuler_;
  long work_ = 0;
  std::vector<double> u0_, theta_, dtheta_;
};

// Two-level bound of Dobrev, Kolev, Petersson, Schroder (2017) for a scalar linear problem with
// fine amplification lam, coarse mu, cfactor m, n_coarse coarse steps: ‖E‖ ≤
// |lam^m − mu| (1 − |mu|^{n_coarse}) / (1 − |mu|), times |lam|^m with FCF.
double two_level_bound(double lam, double mu, int m, long n_coarse, bool fcf);

}  // namespace lpt::mgrit
