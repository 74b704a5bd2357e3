#pragma once
// Reading a run record (util/h5record.hpp) back in tests: a dataset as doubles, a root attribute,
// one string field of an event table.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <fstream>
#include <string>
#include <vector>

namespace lpt::test {

// Every value of a 1-D or 2-D numeric dataset, row-major, as double.
inline std::vector<double> read_series(const std::string& file, const std::string& path) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0) << file;
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  hid_t sp = H5Dget_space(d);
  hsize_t n[2] = {0, 0};
  const int rank = H5Sget_simple_extent_dims(sp, n, nullptr);
  std::vector<double> v(n[0] * (rank == 2 ? n[1] : 1));
  if (!v.empty()) H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  return v;
}

inline std::string read_root_attr(const std::string& file, const char* name) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  EXPECT_GE(a, 0) << name;
  hid_t t = H5Aget_type(a);
  std::string s;
  if (H5Tis_variable_str(t) > 0) {
    char* p = nullptr;
    H5Aread(a, t, &p);
    s = p ? p : "";
    H5free_memory(p);
  } else {
    s.resize(H5Tget_size(t));
    H5Aread(a, t, s.data());
    s = s.c_str();
  }
  H5Tclose(t);
  H5Aclose(a);
  H5Fclose(f);
  return s;
}

// A numeric attribute `name` of the object at `path` ("/" for the root), as double.
inline double read_attr_double(const std::string& file, const std::string& path, const char* name) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t a = H5Aopen_by_name(f, path.c_str(), name, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(a, 0) << path << " " << name;
  double v = 0;
  H5Aread(a, H5T_NATIVE_DOUBLE, &v);
  H5Aclose(a);
  H5Fclose(f);
  return v;
}

// The string field `field` ("action", "reason", "metrics") of every row of an event table.
inline std::vector<std::string> read_event_field(const std::string& file, const std::string& path,
                                                 const char* field) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp, &n, nullptr);
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, H5T_VARIABLE);
  H5Tset_cset(str, H5T_CSET_UTF8);  // as the record writes them
  hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(char*));
  H5Tinsert(mt, field, 0, str);
  std::vector<char*> raw(n, nullptr);
  std::vector<std::string> out;
  if (n && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) >= 0) {
    for (char* p : raw) out.push_back(p ? p : "");
    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw.data());
  }
  H5Tclose(mt);
  H5Tclose(str);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  return out;
}

// Whether `file` begins with the PNG signature (what the plot scripts must have written).
inline bool is_png(const std::string& file) {
  std::ifstream f(file, std::ios::binary);
  char magic[4] = {};
  f.read(magic, 4);
  return std::string(magic + 1, 3) == "PNG";
}

}  // namespace lpt::test
