#include "util/h5read.hpp"

#include <cstddef>
#include <filesystem>

namespace lpt {

using h5::check;
using h5::Handle;

H5Reader::H5Reader(const std::string& path) : path_(path) {
  std::error_code ec;
  require(std::filesystem::is_regular_file(path, ec), "record '", path, "' does not exist");
  h5::QuietErrors quiet;
  Handle fapl = check(H5Pcreate(H5P_FILE_ACCESS), "file access properties");
  // Not locked: a record whose run still writes (or whose run was killed) stays readable.
  H5Pset_file_locking(fapl, false, true);
  file_ = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl));
  require(file_.valid(), "record '", path, "' is not a readable HDF5 file (truncated, or not a "
          "record)");
}

bool H5Reader::has(const std::string& path) const { return h5::exists(file_, path); }

std::uint64_t H5Reader::rows(const std::string& path) const {
  if (has(path + "/offsets")) {
    const std::uint64_t n = rows(path + "/offsets");
    return n ? n - 1 : 0;
  }
  if (!has(path)) return 0;
  h5::QuietErrors quiet;
  Handle d(H5Dopen2(file_, path.c_str(), H5P_DEFAULT));
  if (!d.valid()) return 0;
  Handle space = check(H5Dget_space(d), "space of " + path);
  hsize_t dims[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(space) < 1) return 0;
  H5Sget_simple_extent_dims(space, dims, nullptr);
  return dims[0];
}

std::vector<double> H5Reader::numbers(const std::string& path) const {
  if (!has(path)) return {};
  h5::QuietErrors quiet;
  Handle d(H5Dopen2(file_, path.c_str(), H5P_DEFAULT));
  require(d.valid(), "record ", path_, ": ", path, " is not a dataset");
  Handle type = check(H5Dget_type(d), "type of " + path);
  const H5T_class_t cls = H5Tget_class(type);
  require(cls == H5T_FLOAT || cls == H5T_INTEGER, "record ", path_, ": ", path,
          " is not numeric");
  Handle space = check(H5Dget_space(d), "space of " + path);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<double> out(n > 0 ? static_cast<std::size_t>(n) : 0);
  if (!out.empty())
    check(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
          "read " + path + " of " + path_);
  return out;
}

std::vector<std::vector<double>> H5Reader::series(const std::string& path) const {
  const std::vector<double> off = numbers(path + "/offsets");
  const std::vector<double> val = numbers(path + "/values");
  std::vector<std::vector<double>> out;
  for (std::size_t i = 0; i + 1 < off.size(); ++i) {
    const auto a = static_cast<std::size_t>(off[i]), b = static_cast<std::size_t>(off[i + 1]);
    require(a <= b && b <= val.size(), "record ", path_, ": ", path,
            " has offsets beyond its values");
    out.emplace_back(val.begin() + static_cast<std::ptrdiff_t>(a),
                     val.begin() + static_cast<std::ptrdiff_t>(b));
  }
  return out;
}

namespace {
struct RawEvent {
  std::int64_t step;
  char* action;
  char* reason;
  char* metrics;
};
}  // namespace

std::vector<H5Event> H5Reader::events(const std::string& path) const {
  if (!has(path)) return {};
  h5::QuietErrors quiet;
  Handle d(H5Dopen2(file_, path.c_str(), H5P_DEFAULT));
  require(d.valid(), "record ", path_, ": ", path, " is not a dataset");
  Handle str = h5::vlen_string_type();
  Handle mt = check(H5Tcreate(H5T_COMPOUND, sizeof(RawEvent)), "event type");
  check(H5Tinsert(mt, "step", offsetof(RawEvent, step), H5T_NATIVE_INT64), "event step");
  check(H5Tinsert(mt, "action", offsetof(RawEvent, action), str), "event action");
  check(H5Tinsert(mt, "reason", offsetof(RawEvent, reason), str), "event reason");
  check(H5Tinsert(mt, "metrics", offsetof(RawEvent, metrics), str), "event metrics");
  Handle space = check(H5Dget_space(d), "space of " + path);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<RawEvent> raw(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::vector<H5Event> out;
  if (raw.empty()) return out;
  check(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()),
        "read " + path + " of " + path_);
  for (const RawEvent& r : raw)
    out.push_back({r.step, r.action ? r.action : "", r.reason ? r.reason : "",
                   r.metrics ? r.metrics : ""});
  H5Dvlen_reclaim(mt, space, H5P_DEFAULT, raw.data());
  return out;
}

std::string H5Reader::attr(const std::string& path, const std::string& name,
                           const std::string& fallback) const {
  if (!has(path)) return fallback;
  h5::QuietErrors quiet;
  Handle obj(H5Oopen(file_, path.c_str(), H5P_DEFAULT));
  if (!obj.valid() || H5Aexists(obj, name.c_str()) <= 0) return fallback;
  return h5::read_string_attr(obj, name);
}

double H5Reader::attr_number(const std::string& path, const std::string& name,
                             double fallback) const {
  if (!has(path)) return fallback;
  h5::QuietErrors quiet;
  Handle obj(H5Oopen(file_, path.c_str(), H5P_DEFAULT));
  if (!obj.valid() || H5Aexists(obj, name.c_str()) <= 0) return fallback;
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  Handle type(H5Aget_type(a));
  const H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) return fallback;
  return h5::read_double_attr(obj, name);
}

}  // namespace lpt
