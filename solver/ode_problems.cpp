#include "solver/ode_problems.hpp"

#include <cmath>

#include "util/error.hpp"

namespace lpt::mgrit {

OdeKind parse_ode(const std::string& s) {
  if (s == "dahlquist") return OdeKind::dahlquist;
  if (s == "oscillator") return OdeKind::oscillator;
  if (s == "cubic") return OdeKind::cubic;
  fail("unknown problem '", s, "'; use dahlquist, oscillator or cubic");
}

static int dim_of(OdeKind k, int dim) {
  if (k == OdeKind::dahlquist) return 1;
  if (k == OdeKind::oscillator) return 2;
  return dim > 0 ? dim : 4;
}

OdeProblem::OdeProblem(OdeKind kind, long n_steps, double T, double theta, int dim,
                       bool backward_euler)
    : FlatApp<double>(
          dim_of(kind, dim),
          [this](const StepInfo& s, const double* u, double* out) { phi(s.layer, s.h, u, out); },
          [this](const StepInfo& s, const double* u, const double* lam, double* lam_out,
                 bool grad) {
            phi_adjoint(s.layer, s.h, u, lam, lam_out, grad ? &dtheta_[s.layer] : nullptr);
          }),
      kind_(kind), n_(n_steps), h_(T / double(n_steps)), dim_(dim_of(kind, dim)),
      beuler_(backward_euler) {
  require(n_steps >= 1, "ODE problem needs >= 1 step");
  require(!backward_euler || kind == OdeKind::dahlquist,
          "backward Euler is offered for dahlquist only");
  theta_.assign(n_, theta);
  dtheta_.assign(n_, 0.0);
  u0_.assign(dim_, 1.0);
  if (kind == OdeKind::oscillator) u0_ = {1.0, 0.0};
  if (kind == OdeKind::cubic)
    for (int i = 0; i < dim_; ++i) u0_[i] = 1.0 + 0.25 * i;
}

void OdeProblem::set_guess_value(double v) {
  set_initial_guess([v, this](long, const double*, double* u) {
    for (int i = 0; i < dim_; ++i) u[i] = v;
  });
}

void OdeProblem::burn() const {
  // A fixed amount of dependent arithmetic the compiler cannot drop.
  volatile double sink = 0;
  double x = 1.0;
  for (long i = 0; i < work_; ++i) x = x * 0.999999 + 1e-7;
  sink = x;
  (void)sink;
}

void OdeProblem::phi(long layer, double h, const double* u, double* out) const {
  const double th = theta_[layer];
  if (work_) burn();
  switch (kind_) {
    case OdeKind::dahlquist:
      out[0] = beuler_ ? u[0] / (1.0 - th * h) : (1.0 + th * h) * u[0];
      break;
    case OdeKind::oscillator: {
      const double a = u[0], b = u[1];
      out[0] = a + h * b;
      out[1] = b + h * (-a - th * b);
      break;
    }
    case OdeKind::cubic:
      for (int i = 0; i < dim_; ++i) out[i] = u[i] - h * th * u[i] * u[i] * u[i];
      break;
  }
}

void OdeProblem::phi_adjoint(long layer, double h, const double* u, const double* lam,
                             double* lam_out, double* dtheta) const {
  const double th = theta_[layer];
  if (work_) burn();
  switch (kind_) {
    case OdeKind::dahlquist: {
      const double d = 1.0 - th * h;
      if (lam_out) lam_out[0] = beuler_ ? lam[0] / d : (1.0 + th * h) * lam[0];
      if (dtheta) *dtheta += beuler_ ? lam[0] * u[0] * h / (d * d) : lam[0] * h * u[0];
      break;
    }
    case OdeKind::oscillator: {
      // Φ = [[1, h], [-h, 1 - hθ]] u; transpose applied to λ.
      const double l0 = lam[0], l1 = lam[1];
      if (lam_out) {
        lam_out[0] = l0 - h * l1;
        lam_out[1] = h * l0 + (1.0 - h * th) * l1;
      }
      if (dtheta) *dtheta += -h * u[1] * l1;
      break;
    }
    case OdeKind::cubic: {
      double g = 0;
      for (int i = 0; i < dim_; ++i) {
        const double l = lam[i];
        if (lam_out) lam_out[i] = (1.0 - 3.0 * h * th * u[i] * u[i]) * l;
        g += -h * u[i] * u[i] * u[i] * l;
      }
      if (dtheta) *dtheta += g;
      break;
    }
  }
}

OdeProblem::Traj OdeProblem::serial_forward() const {
  Traj u(n_ + 1, std::vector<double>(dim_));
  u[0] = u0_;
  for (long n = 0; n < n_; ++n) phi(n, h_, u[n].data(), u[n + 1].data());
  return u;
}

void OdeProblem::serial_adjoint(const Traj& u, Traj* lam, std::vector<double>* dtheta) const {
  lam->assign(n_ + 1, std::vector<double>(dim_));
  dtheta->assign(n_, 0.0);
  (*lam)[n_] = u[n_];
  for (long n = n_ - 1; n >= 0; --n)
    phi_adjoint(n, h_, u[n].data(), (*lam)[n + 1].data(), (*lam)[n].data(), &(*dtheta)[n]);
}

double two_level_bound(double lam, double mu, int m, long n_coarse, bool fcf) {
  const double am = std::pow(std::fabs(lam), m);
  const double diff = std::fabs(std::pow(lam, m) - mu);
  const double amu = std::fabs(mu);
  const double geo = std::fabs(1.0 - amu) < 1e-15 ? double(n_coarse)
                                                  : (1.0 - std::pow(amu, n_coarse)) / (1.0 - amu);
  return diff * geo * (fcf ? am : 1.0);
}

}  // namespace lpt::mgrit
