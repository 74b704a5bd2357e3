// Appending is: extend the dataset by the new rows, select them in the file, write. Open datasets
// are cached by path so that one append costs a few microseconds (docs/records.md has numbers).
#include "util/h5record.hpp"
#include "util/parent_folders.hpp"
#include "util/version.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace lpt {

using h5::check;
using h5::Handle;

namespace {


// Rows per chunk: big enough that the chunk index stays small over a long run, small enough that
// rewriting the last (partial) chunk on every flush is cheap (8 KiB of float64).
constexpr hsize_t kChunkRows1D = 1024;
constexpr hsize_t kChunkBytes2D = 8192;
constexpr hsize_t kChunkRowsText = 64;

struct EventRow {
  std::int64_t step;
  const char* action;
  const char* reason;
  const char* metrics;
};

Handle make_event_type(hid_t str) {
  Handle t = check(H5Tcreate(H5T_COMPOUND, sizeof(EventRow)), "event type");
  check(H5Tinsert(t, "step", HOFFSET(EventRow, step), H5T_NATIVE_INT64), "event.step");
  check(H5Tinsert(t, "action", HOFFSET(EventRow, action), str), "event.action");
  check(H5Tinsert(t, "reason", HOFFSET(EventRow, reason), str), "event.reason");
  check(H5Tinsert(t, "metrics", HOFFSET(EventRow, metrics), str), "event.metrics");
  return t;
}

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string parent_path(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

const char* kind_name(int kind) {
  static const char* names[] = {"float64", "int64", "string", "event"};
  return names[kind];
}

}  // namespace

std::string H5Record::utc_now_iso8601() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

H5Record::H5Record(const std::string& path, Mode mode) : path_(path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  create_parent_folders(path, "record");
  h5::QuietErrors quiet;
  if (mode == Mode::append && fs::exists(p)) {
    require(H5Fis_hdf5(path.c_str()) > 0, "record '", path,
            "' exists but is not an HDF5 file; move it away or pick another output.file");
    file_ = Handle(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    // One writer per record is ensured by the record lock (train/record_lock), so a record that
    // HDF5 recognises but cannot open is damaged, typically cut short by a full disk or a copy.
    require(file_.valid(), "cannot open record '", path,
            "' for appending: HDF5 cannot read it (the file is truncated or damaged). Resume "
            "into a new record with --set output.file=NEW.h5 (it starts at the checkpoint's "
            "step), or restore this one from a copy");
  } else {
    file_ = Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    require(file_.valid(), "cannot create record '", path,
            "'; check that its folder is writable and no other process has it open");
    // Marks the file as an lpt record from its first moment, so a later run may replace it
    // (train/output_paths) even if this one dies before write_run_info.
    Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
    h5::write_attr(root, "lpt_version", std::string(version()));
  }
  string_type_ = h5::vlen_string_type();
  event_type_ = make_event_type(string_type_);
}

H5Record::~H5Record() {
  if (file_.valid()) H5Fflush(file_, H5F_SCOPE_LOCAL);
}
H5Record::H5Record(H5Record&&) noexcept = default;
H5Record& H5Record::operator=(H5Record&&) noexcept = default;

void H5Record::write_run_info(const std::string& config_json) {
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  const std::string host = hostname(), now = utc_now_iso8601();
  if (H5Aexists(root, "start_time") <= 0) {
    h5::write_attr(root, "config", config_json);
    h5::write_attr(root, "lpt_version", std::string(version()));
    h5::write_attr(root, "hostname", host);
    h5::write_attr(root, "start_time", now);
  }
  nlohmann::json start = {{"time", now}, {"hostname", host}, {"lpt_version", version()}};
  try {
    start["config"] = nlohmann::json::parse(config_json);
  } catch (const nlohmann::json::parse_error&) {
    start["config"] = config_json;
  }
  append_string("/run/starts", start.dump());
  flush();
}

H5Record::Dset H5Record::create(const std::string& path, Kind kind, std::uint64_t cols) {
  h5::open_or_create_group(file_, parent_path(path));
  const int rank = cols ? 2 : 1;
  hsize_t dims[2] = {0, cols}, maxdims[2] = {H5S_UNLIMITED, cols}, chunk[2] = {kChunkRows1D, cols};
  if (cols) chunk[0] = std::max<hsize_t>(1, kChunkBytes2D / (8 * cols));
  if (kind == Kind::str || kind == Kind::event) chunk[0] = kChunkRowsText;
  Handle space = check(H5Screate_simple(rank, dims, maxdims), "dataspace for " + path);
  Handle dcpl = check(H5Pcreate(H5P_DATASET_CREATE), "dataset properties");
  check(H5Pset_chunk(dcpl, rank, chunk), "chunking of " + path);
  const hid_t type = kind == Kind::f64   ? H5T_IEEE_F64LE
                     : kind == Kind::i64 ? H5T_STD_I64LE
                     : kind == Kind::str ? string_type_.get()
                                         : event_type_.get();
  Dset d;
  d.id = check(H5Dcreate2(file_, path.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
               "create dataset " + path);
  d.kind = kind;
  d.cols = cols;
  return d;
}

H5Record::Dset H5Record::open_existing(const std::string& path, Kind kind, std::uint64_t cols) {
  h5::QuietErrors quiet;
  Dset d;
  d.id = Handle(H5Dopen2(file_, path.c_str(), H5P_DEFAULT));
  require(d.id.valid(), "record ", path_, ": ", path, " exists but is not a dataset");
  Handle type = check(H5Dget_type(d.id), "type of " + path);
  const H5T_class_t want = kind == Kind::f64   ? H5T_FLOAT
                           : kind == Kind::i64 ? H5T_INTEGER
                           : kind == Kind::str ? H5T_STRING
                                               : H5T_COMPOUND;
  require(H5Tget_class(type) == want, "record ", path_, ": ", path, " is not a ",
          kind_name(static_cast<int>(kind)), " dataset; it was written with another type");
  Handle space = check(H5Dget_space(d.id), "space of " + path);
  hsize_t dims[2] = {0, 0};
  const int rank = H5Sget_simple_extent_ndims(space);
  require(rank == (cols ? 2 : 1), "record ", path_, ": ", path, " has rank ", rank,
          ", expected ", cols ? 2 : 1);
  H5Sget_simple_extent_dims(space, dims, nullptr);
  require(!cols || dims[1] == cols, "record ", path_, ": ", path, " has ", dims[1],
          " columns, this row has ", cols);
  d.kind = kind;
  d.rows = dims[0];
  d.cols = cols;
  return d;
}

H5Record::Dset& H5Record::dataset(const std::string& path, Kind kind, std::uint64_t cols) {
  auto it = open_.find(path);
  if (it != open_.end()) {
    Dset& d = it->second;
    require(d.kind == kind && d.cols == cols, "record ", path_, ": ", path, " holds ",
            kind_name(static_cast<int>(d.kind)), " rows of width ", d.cols, "; cannot append ",
            kind_name(static_cast<int>(kind)), " of width ", cols);
    return d;
  }
  require(!path.empty() && path[0] == '/', "record dataset path '", path,
          "' must start with '/'");
  Dset d = h5::exists(file_, path) ? open_existing(path, kind, cols) : create(path, kind, cols);
  return open_.emplace(path, std::move(d)).first->second;
}

void H5Record::write_rows(Dset& d, const void* data, std::uint64_t n, hid_t mem_type) {
  const int rank = d.cols ? 2 : 1;
  hsize_t new_dims[2] = {d.rows + n, d.cols};
  check(H5Dset_extent(d.id, new_dims), "extend dataset");
  Handle fspace = check(H5Dget_space(d.id), "dataset space");
  hsize_t start[2] = {d.rows, 0}, count[2] = {n, d.cols};
  check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr), "select");
  Handle mspace = check(H5Screate_simple(rank, count, nullptr), "memory space");
  check(H5Dwrite(d.id, mem_type, mspace, fspace, H5P_DEFAULT, data), "write rows");
  d.rows += n;
}

void H5Record::after_append() {
  if (autoflush_) flush();
}

void H5Record::append_double(const std::string& path, double v) {
  write_rows(dataset(path, Kind::f64, 0), &v, 1, H5T_NATIVE_DOUBLE);
  after_append();
}

void H5Record::append_int(const std::string& path, std::int64_t v) {
  write_rows(dataset(path, Kind::i64, 0), &v, 1, H5T_NATIVE_INT64);
  after_append();
}

void H5Record::append_row(const std::string& path, const std::vector<double>& row,
                          const std::vector<std::string>& columns) {
  require(!row.empty(), "record ", path, ": append_row needs at least one column");
  require(columns.empty() || columns.size() == row.size(), "record ", path, ": ", row.size(),
          " values but ", columns.size(), " column names");
  const bool cached = open_.count(path) > 0;
  const bool is_new = !cached && !h5::exists(file_, path);
  require(!is_new || !columns.empty(), "record ", path,
          ": name the columns on the first append_row");
  Dset& d = dataset(path, Kind::f64, row.size());
  if (is_new) {
    h5::write_attr(d.id, "columns", columns);
  } else if (!cached && !columns.empty()) {
    require(h5::read_string_list_attr(d.id, "columns") == columns, "record ", path,
            ": columns differ from the ones this dataset was created with");
  }
  write_rows(d, row.data(), 1, H5T_NATIVE_DOUBLE);
  after_append();
}

void H5Record::append_series(const std::string& path, const std::vector<double>& values) {
  const std::string vpath = path + "/values", opath = path + "/offsets";
  const bool is_new = open_.count(opath) == 0 && !h5::exists(file_, opath);
  Dset& v = dataset(vpath, Kind::f64, 0);
  Dset& o = dataset(opath, Kind::i64, 0);
  if (is_new) {
    const std::int64_t zero = 0;
    write_rows(o, &zero, 1, H5T_NATIVE_INT64);
    Handle g = check(H5Gopen2(file_, path.c_str(), H5P_DEFAULT), "open " + path);
    h5::write_attr(g, "layout", std::string("csr: series i = values[offsets[i]:offsets[i+1]]"));
  }
  // Values first, then the offset that makes them visible: a crash in between leaves the
  // offsets describing only complete series.
  if (!values.empty()) write_rows(v, values.data(), values.size(), H5T_NATIVE_DOUBLE);
  const std::int64_t end = static_cast<std::int64_t>(v.rows);
  write_rows(o, &end, 1, H5T_NATIVE_INT64);
  after_append();
}

void H5Record::append_string(const std::string& path, const std::string& value) {
  const char* p = value.c_str();
  write_rows(dataset(path, Kind::str, 0), &p, 1, string_type_);
  after_append();
}

void H5Record::append_event(const std::string& path, std::int64_t step, const std::string& action,
                            const std::string& reason, const std::string& metrics_json) {
  const EventRow row{step, action.c_str(), reason.c_str(), metrics_json.c_str()};
  write_rows(dataset(path, Kind::event, 0), &row, 1, event_type_);
  after_append();
}

Handle H5Record::object_at(const std::string& path) {
  if (h5::exists(file_, path)) {
    return check(H5Oopen(file_, path.c_str(), H5P_DEFAULT), "open " + path);
  }
  return h5::open_or_create_group(file_, path);
}

void H5Record::set_attr(const std::string& path, const std::string& name,
                        const std::string& value) {
  Handle obj = object_at(path);
  h5::write_attr(obj, name, value);
}
void H5Record::set_attr(const std::string& path, const std::string& name, const char* value) {
  set_attr(path, name, std::string(value));
}
void H5Record::set_attr(const std::string& path, const std::string& name, double value) {
  Handle obj = object_at(path);
  h5::write_attr(obj, name, value);
}
void H5Record::set_attr(const std::string& path, const std::string& name, long long value) {
  Handle obj = object_at(path);
  h5::write_attr(obj, name, value);
}
void H5Record::set_attr(const std::string& path, const std::string& name, int value) {
  set_attr(path, name, static_cast<long long>(value));
}

std::uint64_t H5Record::rows(const std::string& path) {
  if (!h5::exists(file_, path)) return 0;
  if (h5::exists(file_, path + "/offsets")) {
    const std::uint64_t n = rows(path + "/offsets");
    return n ? n - 1 : 0;
  }
  auto it = open_.find(path);
  if (it != open_.end()) return it->second.rows;
  Handle d = check(H5Dopen2(file_, path.c_str(), H5P_DEFAULT), "open dataset " + path);
  Handle space = check(H5Dget_space(d), "space of " + path);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space, dims, nullptr);
  return dims[0];
}

void H5Record::truncate(const std::string& path, std::uint64_t n) {
  const std::uint64_t have = rows(path);
  require(n <= have, "record ", path, ": cannot truncate ", have, " rows to ", n);
  if (n == have) return;
  open_.clear();  // cached datasets would keep stale row counts
  auto cut = [&](const std::string& p, std::uint64_t keep) {
    Handle d = check(H5Dopen2(file_, p.c_str(), H5P_DEFAULT), "open dataset " + p);
    Handle space = check(H5Dget_space(d), "space of " + p);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space, dims, nullptr);
    dims[0] = keep;
    check(H5Dset_extent(d, dims), "truncate " + p);
  };
  if (h5::exists(file_, path + "/offsets")) {
    Handle d = check(H5Dopen2(file_, (path + "/offsets").c_str(), H5P_DEFAULT), "open offsets");
    Handle fspace = check(H5Dget_space(d), "offsets space");
    hsize_t start = n, count = 1;
    check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, nullptr, &count, nullptr), "sel");
    Handle mspace = check(H5Screate_simple(1, &count, nullptr), "memory space");
    std::int64_t end = 0;
    check(H5Dread(d, H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, &end), "read offsets");
    cut(path + "/offsets", n + 1);
    cut(path + "/values", static_cast<std::uint64_t>(end));
  } else {
    cut(path, n);
  }
  flush();
}

namespace {

herr_t collect_growing(hid_t file, const char* name, const H5O_info_t* info, void* out) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  Handle d(H5Dopen2(file, name, H5P_DEFAULT));
  if (!d.valid()) return -1;
  Handle space(H5Dget_space(d));
  hsize_t dims[2] = {0, 0}, max[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(space) < 1 || H5Sget_simple_extent_ndims(space) > 2) return 0;
  H5Sget_simple_extent_dims(space, dims, max);
  if (max[0] == H5S_UNLIMITED)
    static_cast<std::vector<std::string>*>(out)->push_back("/" + std::string(name));
  return 0;
}

}  // namespace

std::vector<std::string> H5Record::series() {
  std::vector<std::string> growing;
  check(H5Ovisit(file_, H5_INDEX_NAME, H5_ITER_INC, collect_growing, &growing),
        "list the series of record " + path_);
  std::vector<std::string> out;
  for (const std::string& p : growing) {
    if (p.rfind("/run/", 0) == 0) continue;
    const std::size_t slash = p.find_last_of('/');
    const std::string leaf = p.substr(slash + 1), group = p.substr(0, slash);
    const bool ragged = (leaf == "offsets" || leaf == "values") &&
                        h5::exists(file_, group + "/offsets") &&
                        h5::exists(file_, group + "/values");
    if (!ragged) {
      out.push_back(p);
    } else if (leaf == "offsets") {
      out.push_back(group);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void H5Record::flush() { check(H5Fflush(file_, H5F_SCOPE_LOCAL), "flush record " + path_); }

}  // namespace lpt
