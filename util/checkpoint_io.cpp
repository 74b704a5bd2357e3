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
#include <iostream>
#include <vector>

#include "util/checksum.hpp"
#include "util/parent_folders.hpp"

namespace lpt {

using h5::check;
using h5::Handle;

namespace {

// Version 2 added the checksum; version 1 files (no checksum) still load, with a warning.
constexpr long long kFormatVersion = 2;
constexpr long long kUncheckedVersion = 1;
constexpr const char* kMarker = "lpt_checkpoint";
constexpr const char* kChecksum = "lpt_checksum";

// The file's own checksum, outside HDF5: the first kUserBlock bytes are an HDF5 user block (HDF5
// keeps it free for the application), holding kFileMagic and the FNV-1a digest of every byte
// after it. A reader checks it before HDF5 parses anything, because HDF5 1.10 reading damaged
// metadata can touch freed memory (AddressSanitizer: heap-use-after-free inside H5Aexists on a
// checkpoint with one flipped bit); the lpt_checksum attribute then covers what the contents
// mean. A file without the magic (older lpt, or a flip inside the magic itself, which HDF5
// ignores) is read as before.
constexpr std::size_t kUserBlock = 512;
constexpr const char* kFileMagic = "lpt-checkpoint-file-checksum ";

// FNV-1a of the bytes of `path` after the user block; "" when the file cannot be read.
std::string file_digest(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";
  Fnv1a h;
  std::vector<char> buf(1 << 16);
  bool failed = std::fseek(f, long(kUserBlock), SEEK_SET) != 0;
  while (!failed) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
    h.add(buf.data(), n);
    if (n < buf.size()) break;
  }
  failed = failed || std::ferror(f);
  std::fclose(f);
  return failed ? "" : h.hex();
}

// The digest the user block stores ("" when it has none: not written by this lpt).
std::string stored_file_digest(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";
  char block[kUserBlock] = {};
  const std::size_t n = std::fread(block, 1, kUserBlock, f);
  std::fclose(f);
  const std::size_t m = std::strlen(kFileMagic);
  if (n < kUserBlock || std::memcmp(block, kFileMagic, m) != 0) return "";
  return std::string(block + m, block + m + 16);
}

void write_file_digest(const std::string& path) {
  const std::string digest = file_digest(path);
  require(!digest.empty(), "checkpoint: cannot read back '", path, "' to checksum it");
  char block[kUserBlock] = {};
  const std::string text = std::string(kFileMagic) + digest + "\n";
  std::memcpy(block, text.data(), text.size());
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  require(f != nullptr, "checkpoint: cannot reopen '", path, "': ", std::strerror(errno));
  const bool ok = std::fwrite(block, 1, kUserBlock, f) == kUserBlock;
  require(std::fclose(f) == 0 && ok, "checkpoint: cannot write the file checksum of '", path, "'");
}

// The digest of one array or attribute: its kind, name, type, shape and value bytes. The file's
// checksum combines these in name order, so it does not depend on the order of the writes.
std::uint64_t item_digest(const char* kind, const std::string& name, DType type,
                          const Shape& shape, const void* data, std::size_t bytes) {
  Fnv1a f;
  f.add_string(kind);
  f.add_string(name);
  f.add_string(to_string(type));
  f.add_u64(shape.dims.size());
  for (auto d : shape.dims) f.add_u64(static_cast<std::uint64_t>(d));
  f.add_u64(bytes);
  f.add(data, bytes);
  return f.value();
}

std::string combine(const std::map<std::string, std::uint64_t>& digests) {
  Fnv1a f;
  for (const auto& [key, d] : digests) {
    f.add_string(key);
    f.add_u64(d);
  }
  return f.hex();
}

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
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  require(!fs::exists(st) || !fs::is_directory(st), "checkpoint path '", path_,
          "' is a directory; set output.checkpoint to a file path such as '",
          (p / "run.ckpt.h5").string(), "'");
  require(!fs::exists(st) || fs::is_regular_file(st), "checkpoint path '", path_,
          "' is a special file (device, FIFO or socket); lpt writes a checkpoint by renaming a "
          "new file over it, which would replace it: set output.checkpoint to a regular file");
  create_parent_folders(path_, "checkpoint");
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  Handle fapl = check(H5Pcreate(H5P_FILE_ACCESS), "file access properties");
  // STRONG: H5Fclose really closes the file (or fails) before we fsync and rename it.
  check(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "close degree");
  Handle fcpl = check(H5Pcreate(H5P_FILE_CREATE), "file creation properties");
  check(H5Pset_userblock(fcpl, kUserBlock), "user block");
  h5::QuietErrors quiet;
  file_ = Handle(H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, fcpl, fapl));
  require(file_.valid(), "cannot create checkpoint file '", tmp_,
          "'; check that the folder exists and is writable");
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  h5::write_attr(root, kMarker, kFormatVersion);
  const std::int64_t v = kFormatVersion;
  digests_[std::string("attr:") + kMarker] = item_digest("attr", kMarker, DType::i64, Shape{}, &v, 8);
}

CheckpointWriter::~CheckpointWriter() {
  if (committed_) return;
  file_.reset();
  std::remove(tmp_.c_str());
}

void CheckpointWriter::put_raw(const std::string& name, const void* data, const Shape& shape,
                               hid_t file_type, hid_t mem_type, DType type,
                               std::size_t elem_bytes) {
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
  if (type == DType::string) {
    // A string's `data` is its characters and `elem_bytes` their count (see put_string).
    digests_["array:" + name] = item_digest("array", name, type, shape, data, elem_bytes);
  } else {
    digests_["array:" + name] = item_digest(
        "array", name, type, shape, data, static_cast<std::size_t>(shape.numel()) * elem_bytes);
  }
  ++arrays_;
  if (hook_) hook_("array", arrays_);
}

void CheckpointWriter::put(const std::string& name, const float* data, const Shape& shape) {
  put_raw(name, data, shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, DType::f32, 4);
}
void CheckpointWriter::put(const std::string& name, const double* data, const Shape& shape) {
  put_raw(name, data, shape, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, DType::f64, 8);
}
void CheckpointWriter::put(const std::string& name, const std::int64_t* data,
                           const Shape& shape) {
  put_raw(name, data, shape, H5T_STD_I64LE, H5T_NATIVE_INT64, DType::i64, 8);
}
void CheckpointWriter::put(const std::string& name, const std::uint64_t* data,
                           const Shape& shape) {
  put_raw(name, data, shape, H5T_STD_U64LE, H5T_NATIVE_UINT64, DType::u64, 8);
}
void CheckpointWriter::put_bytes(const std::string& name, const void* data, std::size_t n) {
  put_raw(name, data, Shape{static_cast<std::int64_t>(n)}, H5T_STD_U8LE, H5T_NATIVE_UINT8,
          DType::bytes, 1);
}
void CheckpointWriter::put_string(const std::string& name, const std::string& s) {
  Handle type = h5::fixed_string_type(s.size());
  std::string buf = s;
  buf.resize(H5Tget_size(type), '\0');
  put_raw(name, buf.data(), Shape{}, type, type, DType::string, s.size());
}

void CheckpointWriter::check_attr_name(const std::string& name) const {
  require(!committed_, "checkpoint ", path_, ": set_attr('", name, "') after commit()");
  require(name != kChecksum && name != kMarker, "checkpoint attribute '", name,
          "' is reserved for checkpoint_io");
}
void CheckpointWriter::set_attr(const std::string& name, const std::string& value) {
  check_attr_name(name);
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  h5::write_fixed_string_attr(root, name, value);
  digests_["attr:" + name] =
      item_digest("attr", name, DType::string, Shape{}, value.data(), value.size());
}
void CheckpointWriter::set_attr(const std::string& name, double value) {
  check_attr_name(name);
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  h5::write_attr(root, name, value);
  digests_["attr:" + name] = item_digest("attr", name, DType::f64, Shape{}, &value, 8);
}
void CheckpointWriter::set_attr(const std::string& name, long long value) {
  check_attr_name(name);
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  h5::write_attr(root, name, value);
  const std::int64_t v = value;
  digests_["attr:" + name] = item_digest("attr", name, DType::i64, Shape{}, &v, 8);
}

// PATH.prev becomes a second name (hard link) of the checkpoint being replaced, so a damaged new
// checkpoint still leaves the one before it. PATH itself exists at every moment: the link is
// made before the rename, and a crash in between leaves both names on the old file.
void CheckpointWriter::keep_previous() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(path_, ec)) return;
  const std::string prev = path_ + ".prev";
  fs::remove(prev, ec);
  if (::link(path_.c_str(), prev.c_str()) != 0) {
    // File systems without hard links: copy instead.
    fs::copy_file(path_, prev, fs::copy_options::overwrite_existing, ec);
    if (ec)
      std::cerr << "warning: cannot keep the previous checkpoint as '" << prev
                << "': " << ec.message() << "\n";
  }
}

void CheckpointWriter::commit() {
  require(!committed_, "checkpoint ", path_, ": commit() called twice");
  {
    // Written last: a file whose checksum is present had every array and attribute written.
    Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
    h5::write_fixed_string_attr(root, kChecksum, combine(digests_));
  }
  check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "checkpoint: flush " + tmp_);
  file_.reset();
  write_file_digest(tmp_);
  fsync_path(tmp_, O_RDONLY);
  if (hook_) hook_("rename", arrays_);
  keep_previous();
  require(std::rename(tmp_.c_str(), path_.c_str()) == 0, "cannot rename checkpoint '", tmp_,
          "' to '", path_, "': ", std::strerror(errno));
  committed_ = true;
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  fsync_path(parent.empty() ? "." : parent.string(), O_RDONLY | O_DIRECTORY);
}

// ---------------------------------------------------------------------------------------------
// Reader

CheckpointReader::CheckpointReader(std::string path) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path_, ec);
  require(fs::exists(st), "checkpoint '", path_,
          "' does not exist; check output.checkpoint or the --resume path");
  require(!fs::is_directory(st), "checkpoint '", path_,
          "' is a directory, not a checkpoint file; pass the file itself (output.checkpoint of "
          "the run, e.g. runs/NAME.ckpt.h5)");
  require(fs::is_regular_file(st), "checkpoint '", path_,
          "' is a special file (device, FIFO or socket), not a checkpoint file");
  const std::string stored = stored_file_digest(path_);
  if (!stored.empty()) {
    const std::string have = file_digest(path_);
    if (have != stored)
      fail("checkpoint '", path_, "' does not match its checksum (file checksum: stored ", stored,
           ", bytes give ", have, "): it was changed after lpt wrote it (a flipped bit, a partial "
           "copy or an edit) and is not resumed.", previous_note());
  }
  h5::QuietErrors quiet;
  require(H5Fis_hdf5(path_.c_str()) > 0, "'", path_, "' is not a checkpoint (not an HDF5 file)");
  file_ = Handle(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  require(file_.valid(), "cannot open checkpoint '", path_, "'");
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  require(H5Aexists(root, kMarker) > 0, "'", path_,
          "' is not an lpt checkpoint (no lpt_checkpoint attribute); is it a run record?");
  const long long version = h5::read_int_attr(root, kMarker);
  require(version == kFormatVersion || version == kUncheckedVersion, "checkpoint '", path_,
          "' has format version ", version, ", this lpt reads versions ", kUncheckedVersion,
          " and ", kFormatVersion, " (a flipped bit in the marker also shows up this way)");
  // Whether to verify depends on the checksum's presence, not only on the version: a single
  // flipped bit can make the version read 1 (through the integer type's bit offset), but cannot
  // also remove the checksum.
  if (version == kUncheckedVersion && H5Aexists(root, kChecksum) <= 0) {
    std::cerr << "warning: checkpoint '" << path_ << "' predates checkpoint checksums (format "
              << version << "); it is loaded unverified\n";
    return;
  }
  verify();
}

std::string CheckpointReader::contents_checksum() const {
  h5::QuietErrors quiet;
  std::map<std::string, std::uint64_t> digests;
  for (const auto& name : names()) {
    const DType t = dtype(name);
    const Shape s = shape(name);
    const std::size_t n = static_cast<std::size_t>(s.numel());
    std::uint64_t d = 0;
    switch (t) {
      case DType::f32: {
        const auto v = read<float>(name, s);
        d = item_digest("array", name, t, s, v.data(), 4 * n);
        break;
      }
      case DType::f64: {
        const auto v = read<double>(name, s);
        d = item_digest("array", name, t, s, v.data(), 8 * n);
        break;
      }
      case DType::i64: {
        const auto v = read<std::int64_t>(name, s);
        d = item_digest("array", name, t, s, v.data(), 8 * n);
        break;
      }
      case DType::u64: {
        const auto v = read<std::uint64_t>(name, s);
        d = item_digest("array", name, t, s, v.data(), 8 * n);
        break;
      }
      case DType::bytes: {
        const auto v = read_bytes(name);
        d = item_digest("array", name, t, s, v.data(), n);
        break;
      }
      case DType::string: {
        const std::string v = read_string(name);
        d = item_digest("array", name, t, s, v.data(), v.size());
        break;
      }
    }
    digests["array:" + name] = d;
  }
  Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
  H5O_info_t info;
  check(H5Oget_info(root, &info), "attributes of /");
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    const ssize_t len = H5Aget_name_by_idx(root, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                           H5P_DEFAULT);
    require(len >= 0, "cannot list the attributes of checkpoint '", path_, "'");
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Aget_name_by_idx(root, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    if (name == kChecksum) continue;
    Handle a = check(H5Aopen(root, name.c_str(), H5P_DEFAULT), "open attribute " + name);
    Handle type = check(H5Aget_type(a), "type of attribute " + name);
    std::uint64_t d = 0;
    switch (H5Tget_class(type)) {
      case H5T_STRING: {
        const std::string v = h5::read_string_attr(root, name);
        d = item_digest("attr", name, DType::string, Shape{}, v.data(), v.size());
        break;
      }
      case H5T_FLOAT: {
        const double v = h5::read_double_attr(root, name);
        d = item_digest("attr", name, DType::f64, Shape{}, &v, 8);
        break;
      }
      case H5T_INTEGER: {
        const std::int64_t v = h5::read_int_attr(root, name);
        d = item_digest("attr", name, DType::i64, Shape{}, &v, 8);
        break;
      }
      default:
        fail("checkpoint '", path_, "': attribute '", name, "' has a type lpt never writes");
    }
    digests["attr:" + name] = d;
  }
  return combine(digests);
}

std::string CheckpointReader::previous_note() const {
  const std::string prev = path_ + ".prev";
  if (!std::filesystem::exists(prev)) {
    return " No previous checkpoint is kept beside it; start the run again or resume from a "
           "copy.";
  }
  try {
    CheckpointReader r(prev);
    std::string step =
        r.has_attr("step") ? " (step " + std::to_string(r.attr_int("step")) + ")" : "";
    return " The previous checkpoint '" + prev + "'" + step +
           " is intact: resume from it with --resume " + prev + ".";
  } catch (const Error&) {
    return " The previous checkpoint '" + prev + "' is damaged too.";
  }
}

void CheckpointReader::verify() const {
  std::string stored, have;
  try {
    Handle root = check(H5Gopen2(file_, "/", H5P_DEFAULT), "open /");
    require(H5Aexists(root, kChecksum) > 0, "the checksum attribute '", kChecksum,
            "' is missing (a file written by lpt has one)");
    stored = h5::read_string_attr(root, kChecksum);
    have = contents_checksum();
  } catch (const Error& e) {
    fail("checkpoint '", path_, "' is damaged: ", e.what(), ".", previous_note());
  }
  if (stored != have)
    fail("checkpoint '", path_, "' does not match its checksum (stored ", stored,
         ", contents give ", have, "): it was changed after lpt wrote it (a flipped bit, a "
         "partial copy or an edit, e.g. of 'step' or 'record_rows/...') and is not resumed.",
         previous_note());
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
  // A damaged header can claim any shape; refuse one larger than the file before allocating.
  const std::uintmax_t file_bytes = std::filesystem::file_size(path_);
  std::uintmax_t n = 1;
  for (hsize_t d : dims) {
    require(d == 0 || n <= file_bytes / d, "checkpoint '", path_, "': array '", name,
            "' claims the shape ", s.str(), ", more than the file's ", file_bytes,
            " bytes hold; the file is damaged");
    n *= d;
  }
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
  Handle space = check(H5Dget_space(d), "space of " + name);
  require(H5Sget_simple_extent_type(space) == H5S_SCALAR, "checkpoint '", path_, "': '", name,
          "' is not a single string");
  Handle ftype = check(H5Dget_type(d), "type of " + name);
  if (H5Tis_variable_str(ftype) <= 0) {
    const std::size_t len = H5Tget_size(ftype);
    std::vector<char> buf(len + 1, '\0');
    check(H5Dread(d, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), "read string " + name);
    return std::string(buf.data(), strnlen(buf.data(), len));
  }
  // Checkpoints written before fixed-length strings.
  Handle type = h5::vlen_string_type();
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
