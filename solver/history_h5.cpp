#include "solver/history_h5.hpp"

#include <hdf5.h>

#include <vector>

#include "util/error.hpp"

namespace lpt::mgrit {

namespace {

template <class T>
void dataset(hid_t g, const char* name, hid_t type, const std::vector<T>& v) {
  hsize_t dims[1] = {v.size()};
  hid_t space = H5Screate_simple(1, dims, nullptr);
  hid_t d = H5Dcreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (!v.empty()) H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(d);
  H5Sclose(space);
}

void attribute(hid_t g, const char* name, double x) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(g, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_DOUBLE, &x);
  H5Aclose(a);
  H5Sclose(space);
}

}  // namespace

void write_history_h5(const std::string& path, const std::string& name, const SolveStats& s,
                      bool truncate) {
  // HDF5's own stack dump says less than the message below and would bury it.
  hid_t f = -1;
  H5E_BEGIN_TRY {
    f = truncate ? H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)
                 : H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  }
  H5E_END_TRY;
  require(f >= 0, "cannot write HDF5 file '", path, "'; check the directory exists and is writable");
  hid_t g = H5Gcreate2(f, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  require(g >= 0, "cannot create group '", name, "' in '", path, "'");
  std::vector<int> it;
  std::vector<double> res, cf, wall;
  for (const auto& h : s.history) {
    it.push_back(h.iter);
    res.push_back(h.residual);
    cf.push_back(h.conv_factor);
    wall.push_back(h.wall);
  }
  dataset(g, "iteration", H5T_NATIVE_INT, it);
  dataset(g, "residual", H5T_NATIVE_DOUBLE, res);
  dataset(g, "conv_factor", H5T_NATIVE_DOUBLE, cf);
  dataset(g, "wall", H5T_NATIVE_DOUBLE, wall);
  dataset(g, "evals_per_level", H5T_NATIVE_LONG, s.evals_all_ranks);
  dataset(g, "level_steps", H5T_NATIVE_LONG, s.level_steps);
  attribute(g, "iterations", s.iterations);
  attribute(g, "converged", s.converged ? 1.0 : 0.0);
  attribute(g, "final_residual", s.final_residual);
  attribute(g, "time_total", s.timers.total);
  attribute(g, "time_step", s.timers.step);
  attribute(g, "time_vjp", s.timers.vjp);
  attribute(g, "time_vec", s.timers.vec);
  attribute(g, "time_pack", s.timers.pack);
  attribute(g, "time_mpi_wait", s.timers.mpi_wait);
  H5Gclose(g);
  H5Fclose(f);
}

}  // namespace lpt::mgrit
