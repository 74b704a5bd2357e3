// Atomic replace: everything goes to PATH.tmp.<pid>; only a complete, closed, fsync'd file is
// renamed over PATH (rename is atomic on POSIX file systems), then the folder is fsync'd so the
// rename itself survives a power loss.
#include "util/checkpoint_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace lpt {

using h5::check;
using h5::Handle;

namespace {

constexpr long long kFormatVersion = 1;
constexpr const char* kMarker = "lpt_checkpoint";

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  require(fd >= 0, "cannot open '", path, "' to fsync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  require(rc == 0, "fsync of '", path, "' failed: ", std::strerror(errno));
}

Handle dataspace(const Shape& shape) {
  if (shape.dims.empty()) return check(H5Screate(H5S_SCALAR), "scalar space");
  std::vector<hsize_t> d(shape.dims.begin(), shape.dims.end());
  return check(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), "array space");
}

DType dtype_of(hid_t type, const std::string& where) {
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 4) return DType::f32;
  if (cls == H5T_FLOAT && size == 8) return DType::f64;
  if (cls == H5T_STRING) return DType::string;
  if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    if (size == 8) return is_signed ? DType::i64 : DType::u64;
    if (size == 1 && !is_signed) return DType::bytes;
  }
  fail(where, " has a type lpt checkpoints do not use (class ", static_cast<int>(cls), ", ", size,
       " bytes)");
}

herr_t collect_dataset(hid_t, const char* name, const H5O_info_t* info, void* out) {
  if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

}  // namespace

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

const char* to_string(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::u64: return "uint64";
    case DType::bytes: return "bytes";
    case DType::string: return "string";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Writer

CheckpointWriter::CheckpointWriter(std::string path) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  const fs::path p(path_);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  Handle fapl = check(H5Pcreate(H5P_FILE_ACCESS), "file access properties");
  // STRONG: H5Fclose really closes the file (or fails) before we fsync and rename it.
  check(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "close degree");
  h5::QuietErrors quiet;
  file_ = Handle(H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  require(file_.valid(), "cannot create checkpoint file '", tmp_,
          "'; check that the folder exists and is writable");
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  h5::write_attr(root, kMarker, kFormatVersion);
}

CheckpointWriter::~CheckpointWriter() {
  if (committed_) return;
  file_.reset();
  std::remove(tmp_.c_str());
}

void CheckpointWriter::put_raw(const std::string& name, const void* data, const Shape& shape,
                               hid_t file_type, hid_t mem_type) {
  require(!committed_, "checkpoint ", path_, ": put('", name, "') after commit()");
  require(!name.empty() && name[0] != '/', "checkpoint array name '", name,
          "' must be non-empty and not start with '/'");
  for (auto d : shape.dims) require(d >= 0, "checkpoint array '", name, "': negative dimension");
  require(!h5::exists(file_, "/" + name), "checkpoint array '", name, "' written twice");
  Handle space = dataspace(shape);
  Handle lcpl = check(H5Pcreate(H5P_LINK_CREATE), "link properties");
  check(H5Pset_create_intermediate_group(lcpl, 1), "intermediate groups");
  Handle d = check(H5Dcreate2(file_, name.c_str(), file_type, space, lcpl, H5P_DEFAULT,
                              H5P_DEFAULT),
                   "checkpoint: create array " + name);
  if (shape.numel() > 0) {
    check(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
          "checkpoint: write array " + name);
  }
  ++arrays_;
  if (hook_) hook_("array", arrays_);
}

void CheckpointWriter::put(const std::string& name, const float* data, const Shape& shape) {
  put_raw(name, data, shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT);
}
void CheckpointWriter::put(const std::string& name, const double* data, const Shape& shape) {
  put_raw(name, data, shape, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE);
}
void CheckpointWriter::put(const std::string& name, const std::int64_t* data,
                           const Shape& shape) {
  put_raw(name, data, shape, H5T_STD_I64LE, H5T_NATIVE_INT64);
}
void CheckpointWriter::put(const std::string& name, const std::uint64_t* data,
                           const Shape& shape) {
  put_raw(name, data, shape, H5T_STD_U64LE, H5T_NATIVE_UINT64);
}
void CheckpointWriter::put_bytes(const std::string& name, const void* data, std::size_t n) {
  put_raw(name, data, Shape{static_cast<std::int64_t>(n)}, H5T_STD_U8LE, H5T_NATIVE_UINT8);
}
void CheckpointWriter::put_string(const std::string& name, const std::string& s) {
  Handle type = h5::vlen_string_type();
  const char* p = s.c_str();
  put_raw(name, &p, Shape{}, type, type);
}

void CheckpointWriter::set_attr(const std::string& name, const std::string& value) {
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  h5::write_attr(root, name, value);
}
void CheckpointWriter::set_attr(const std::string& name, double value) {
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  h5::write_attr(root, name, value);
}
void CheckpointWriter::set_attr(const std::string& name, long long value) {
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  h5::write_attr(root, name, value);
}

void CheckpointWriter::commit() {
  require(!committed_, "checkpoint ", path_, ": commit() called twice");
  check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "checkpoint: flush " + tmp_);
  file_.reset();
  fsync_path(tmp_, O_RDONLY);
  if (hook_) hook_("rename", arrays_);
  require(std::rename(tmp_.c_str(), path_.c_str()) == 0, "cannot rename checkpoint '", tmp_,
          "' to '", path_, "': ", std::strerror(errno));
  committed_ = true;
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  fsync_path(parent.empty() ? "." : parent.string(), O_RDONLY | O_DIRECTORY);
}

// ---------------------------------------------------------------------------------------------
// Reader

CheckpointReader::CheckpointReader(std::string path) : path_(std::move(path)) {
  require(std::filesystem::exists(path_), "checkpoint '", path_,
          "' does not exist; check output.checkpoint or the --resume path");
  h5::QuietErrors quiet;
  require(H5Fis_hdf5(path_.c_str()) > 0, "'", path_, "' is not a checkpoint (not an HDF5 file)");
  file_ = Handle(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  require(file_.valid(), "cannot open checkpoint '", path_, "'");
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  require(H5Aexists(root, kMarker) > 0, "'", path_,
          "' is not an lpt checkpoint (no lpt_checkpoint attribute); is it a run record?");
  const long long version = h5::read_int_attr(root, kMarker);
  require(version == kFormatVersion, "checkpoint '", path_, "' has format version ", version,
          ", this lpt reads version ", kFormatVersion);
}

bool CheckpointReader::has(const std::string& name) const {
  if (!h5::exists(file_, "/" + name)) return false;
  H5O_info_t info;
  return H5Oget_info_by_name(file_, name.c_str(), &info, H5P_DEFAULT) >= 0 &&
         info.type == H5O_TYPE_DATASET;
}

std::vector<std::string> CheckpointReader::names() const {
  std::vector<std::string> out;
  check(H5Ovisit(file_, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &out),
        "list checkpoint " + path_);
  std::sort(out.begin(), out.end());
  return out;
}

Handle CheckpointReader::open_array(const std::string& name) const {
  if (!has(name)) {
    const auto all = names();
    std::string some;
    for (std::size_t i = 0; i < all.size() && i < 5; ++i) some += (i ? ", " : "") + all[i];
    if (all.size() > 5) some += ", ...";
    fail("checkpoint '", path_, "' has no array '", name, "' (it holds ", all.size(),
         " arrays: ", some, "); was it written by another model or config?");
  }
  return check(H5Dopen2(file_, name.c_str(), H5P_DEFAULT), "open array " + name);
}

Shape CheckpointReader::shape(const std::string& name) const {
  Handle d = open_array(name);
  Handle space = check(H5Dget_space(d), "space of " + name);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  Shape s;
  s.dims.assign(dims.begin(), dims.end());
  return s;
}

DType CheckpointReader::dtype(const std::string& name) const {
  Handle d = open_array(name);
  Handle t = check(H5Dget_type(d), "type of " + name);
  return dtype_of(t, "checkpoint '" + path_ + "' array '" + name + "'");
}

void CheckpointReader::read_raw(const std::string& name, void* out, const Shape& expected,
                                DType want, hid_t mem_type) const {
  const DType have = dtype(name);
  require(have == want, "checkpoint '", path_, "': array '", name, "' is ", to_string(have),
          ", read as ", to_string(want));
  const Shape s = shape(name);
  require(s == expected, "checkpoint '", path_, "': array '", name, "' has shape ", s.str(),
          ", expected ", expected.str(), " (a different model size?)");
  if (s.numel() == 0) return;
  Handle d = open_array(name);
  check(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), "read array " + name);
}

void CheckpointReader::read(const std::string& name, float* out, const Shape& expected) const {
  read_raw(name, out, expected, DType::f32, H5T_NATIVE_FLOAT);
}
void CheckpointReader::read(const std::string& name, double* out, const Shape& expected) const {
  read_raw(name, out, expected, DType::f64, H5T_NATIVE_DOUBLE);
}
void CheckpointReader::read(const std::string& name, std::int64_t* out,
                            const Shape& expected) const {
  read_raw(name, out, expected, DType::i64, H5T_NATIVE_INT64);
}
void CheckpointReader::read(const std::string& name, std::uint64_t* out,
                            const Shape& expected) const {
  read_raw(name, out, expected, DType::u64, H5T_NATIVE_UINT64);
}

std::vector<std::uint8_t> CheckpointReader::read_bytes(const std::string& name) const {
  const Shape s = shape(name);
  std::vector<std::uint8_t> v(static_cast<std::size_t>(s.numel()));
  read_raw(name, v.data(), s, DType::bytes, H5T_NATIVE_UINT8);
  return v;
}

std::string CheckpointReader::read_string(const std::string& name) const {
  const DType have = dtype(name);
  require(have == DType::string, "checkpoint '", path_, "': array '", name, "' is ",
          to_string(have), ", read as string");
  Handle d = open_array(name);
  Handle type = h5::vlen_string_type();
  Handle space = check(H5Dget_space(d), "space of " + name);
  require(H5Sget_simple_extent_type(space) == H5S_SCALAR, "checkpoint '", path_, "': '", name,
          "' is not a single string");
  char* p = nullptr;
  check(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), "read string " + name);
  std::string s = p ? p : "";
  H5Dvlen_reclaim(type, space, H5P_DEFAULT, &p);
  return s;
}

bool CheckpointReader::has_attr(const std::string& name) const {
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  return H5Aexists(root, name.c_str()) > 0;
}

std::string CheckpointReader::attr_string(const std::string& name) const {
  require(has_attr(name), "checkpoint '", path_, "' has no attribute '", name, "'");
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  return h5::read_string_attr(root, name);
}
double CheckpointReader::attr_double(const std::string& name) const {
  require(has_attr(name), "checkpoint '", path_, "' has no attribute '", name, "'");
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  return h5::read_double_attr(root, name);
}
long long CheckpointReader::attr_int(const std::string& name) const {
  require(has_attr(name), "checkpoint '", path_, "' has no attribute '", name, "'");
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  return h5::read_int_attr(root, name);
}

}  // namespace lpt
