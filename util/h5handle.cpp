#include "util/h5handle.hpp"

#include <cstring>

namespace lpt::h5 {

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = H5I_INVALID_HID;
}

Handle check(hid_t id, const std::string& what) {
  require(id >= 0, what, ": HDF5 call failed");
  return Handle(id);
}

void check(herr_t status, const std::string& what) {
  require(status >= 0, what, ": HDF5 call failed");
}

QuietErrors::QuietErrors() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietErrors::~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

bool exists(hid_t file, const std::string& path) {
  if (path.empty() || path == "/") return true;
  std::size_t pos = 0;
  while (true) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    // A prefix that names a dataset makes H5Lexists fail on the next component (it is not a
    // group); that means "does not exist", so HDF5's error stack is silenced here.
    htri_t found = 0;
    H5E_BEGIN_TRY { found = H5Lexists(file, prefix.c_str(), H5P_DEFAULT); }
    H5E_END_TRY;
    if (found <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

Handle open_or_create_group(hid_t file, const std::string& path) {
  if (path.empty() || path == "/") return check(H5Gopen2(file, "/", H5P_DEFAULT), "open /");
  if (exists(file, path)) return check(H5Gopen2(file, path.c_str(), H5P_DEFAULT), "open " + path);
  Handle lcpl = check(H5Pcreate(H5P_LINK_CREATE), "link property list");
  check(H5Pset_create_intermediate_group(lcpl, 1), "intermediate groups");
  return check(H5Gcreate2(file, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT),
               "create group " + path);
}

Handle vlen_string_type() {
  Handle t = check(H5Tcopy(H5T_C_S1), "string type");
  check(H5Tset_size(t, H5T_VARIABLE), "string type size");
  check(H5Tset_cset(t, H5T_CSET_UTF8), "string type charset");
  return t;
}

Handle fixed_string_type(std::size_t bytes) {
  Handle t = check(H5Tcopy(H5T_C_S1), "string type");
  check(H5Tset_size(t, bytes == 0 ? 1 : bytes), "string type size");
  check(H5Tset_strpad(t, H5T_STR_NULLPAD), "string type padding");
  check(H5Tset_cset(t, H5T_CSET_UTF8), "string type charset");
  return t;
}

namespace {

Handle fresh_attr(hid_t obj, const std::string& name, hid_t type, hid_t space) {
  if (H5Aexists(obj, name.c_str()) > 0) check(H5Adelete(obj, name.c_str()), "replace " + name);
  return check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT),
               "create attribute " + name);
}

Handle open_attr(hid_t obj, const std::string& name) {
  require(H5Aexists(obj, name.c_str()) > 0, "attribute '", name, "' is missing");
  return check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "open attribute " + name);
}

template <class T>
void write_scalar_attr(hid_t obj, const std::string& name, hid_t type, T value) {
  Handle space = check(H5Screate(H5S_SCALAR), "scalar space");
  Handle a = fresh_attr(obj, name, type, space);
  check(H5Awrite(a, type, &value), "write attribute " + name);
}

}  // namespace

void write_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle type = vlen_string_type();
  Handle space = check(H5Screate(H5S_SCALAR), "scalar space");
  Handle a = fresh_attr(obj, name, type, space);
  const char* p = value.c_str();
  check(H5Awrite(a, type, &p), "write attribute " + name);
}

void write_fixed_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle type = fixed_string_type(value.size());
  Handle space = check(H5Screate(H5S_SCALAR), "scalar space");
  Handle a = fresh_attr(obj, name, type, space);
  std::string buf = value;
  buf.resize(H5Tget_size(type), '\0');
  check(H5Awrite(a, type, buf.data()), "write attribute " + name);
}

void write_attr(hid_t obj, const std::string& name, double value) {
  write_scalar_attr(obj, name, H5T_NATIVE_DOUBLE, value);
}

void write_attr(hid_t obj, const std::string& name, long long value) {
  write_scalar_attr(obj, name, H5T_NATIVE_LLONG, value);
}

void write_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
  Handle type = vlen_string_type();
  const hsize_t n = values.size();
  Handle space = check(H5Screate_simple(1, &n, nullptr), "attribute space");
  Handle a = fresh_attr(obj, name, type, space);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  check(H5Awrite(a, type, ptrs.data()), "write attribute " + name);
}

std::vector<std::string> read_string_list_attr(hid_t obj, const std::string& name) {
  Handle a = open_attr(obj, name);
  Handle ftype = check(H5Aget_type(a), "attribute type");
  require(H5Tget_class(ftype) == H5T_STRING, "attribute '", name, "' is not a string");
  Handle space = check(H5Aget_space(a), "attribute space");
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<std::string> out;
  if (H5Tis_variable_str(ftype) > 0) {
    Handle mtype = vlen_string_type();
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    check(H5Aread(a, mtype, ptrs.data()), "read attribute " + name);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, ptrs.data());
  } else {
    const std::size_t len = H5Tget_size(ftype);
    std::vector<char> buf(len * static_cast<std::size_t>(n) + 1, '\0');
    check(H5Aread(a, ftype, buf.data()), "read attribute " + name);
    for (hssize_t i = 0; i < n; ++i) {
      const char* s = buf.data() + i * len;
      out.emplace_back(s, strnlen(s, len));
    }
  }
  return out;
}

std::string read_string_attr(hid_t obj, const std::string& name) {
  auto v = read_string_list_attr(obj, name);
  require(v.size() == 1, "attribute '", name, "' holds ", v.size(), " strings, expected one");
  return v[0];
}

double read_double_attr(hid_t obj, const std::string& name) {
  Handle a = open_attr(obj, name);
  double v = 0;
  check(H5Aread(a, H5T_NATIVE_DOUBLE, &v), "read attribute " + name);
  return v;
}

long long read_int_attr(hid_t obj, const std::string& name) {
  Handle a = open_attr(obj, name);
  long long v = 0;
  check(H5Aread(a, H5T_NATIVE_LLONG, &v), "read attribute " + name);
  return v;
}

}  // namespace lpt::h5
