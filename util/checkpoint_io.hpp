#pragma once
// Checkpoint files: a set of named arrays (float32, float64, int64, uint64, bytes, strings) and
// attributes in one HDF5 file, replaced atomically.
//
//   CheckpointWriter w("run.ckpt.h5");          // writes run.ckpt.h5.tmp.<pid>
//   w.put("layers.0.ln1_w", p, {d});             // streams each array to the temporary file
//   w.set_attr("step", 500LL);
//   w.commit();   // flush, close, fsync, rename over run.ckpt.h5, fsync the folder
//
// Until commit() returns, the previous file at PATH is untouched: a crash at any point leaves
// either the old checkpoint or the new one, never a mix. A writer destroyed without commit()
// removes its temporary file; one that dies (kill -9) leaves PATH.tmp.<pid> behind, which is
// never read and may be deleted.
//
// commit() also stores a checksum over every array and attribute (FNV-1a, util/checksum.hpp) and
// keeps the checkpoint it replaces as PATH.prev; a reader verifies the checksum on open.
//
//   CheckpointReader r("run.ckpt.h5");          // "not a checkpoint", "damaged" errors here
//   auto w0 = r.read<float>("layers.0.ln1_w", {d});  // missing / wrong shape / wrong type: errors
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "util/h5handle.hpp"

namespace lpt {

// Row-major dimensions; {} is a scalar. Built from {a, b}, std::vector<int> (ParamEntry::shape)
// or std::vector<int64_t>.
struct Shape {
  std::vector<std::int64_t> dims;
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> d) : dims(d) {}
  Shape(const std::vector<std::int64_t>& d) : dims(d) {}  // NOLINT: implicit on purpose
  Shape(const std::vector<int>& d) : dims(d.begin(), d.end()) {}  // NOLINT
  std::int64_t numel() const;
  std::string str() const;  // "[3, 4]"
  bool operator==(const Shape& o) const { return dims == o.dims; }
  bool operator!=(const Shape& o) const { return dims != o.dims; }
};

enum class DType { f32, f64, i64, u64, bytes, string };
const char* to_string(DType t);

class CheckpointWriter {
 public:
  explicit CheckpointWriter(std::string path);
  ~CheckpointWriter();  // without commit(): removes the temporary file
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // data holds shape.numel() elements. Names may contain '/' (groups are created).
  void put(const std::string& name, const float* data, const Shape& shape);
  void put(const std::string& name, const double* data, const Shape& shape);
  void put(const std::string& name, const std::int64_t* data, const Shape& shape);
  void put(const std::string& name, const std::uint64_t* data, const Shape& shape);
  template <class T>
  void put(const std::string& name, const std::vector<T>& v) {
    put(name, v.data(), Shape{static_cast<std::int64_t>(v.size())});
  }
  void put_bytes(const std::string& name, const void* data, std::size_t n);
  void put_string(const std::string& name, const std::string& s);

  void set_attr(const std::string& name, const std::string& value);
  void set_attr(const std::string& name, const char* value) { set_attr(name, std::string(value)); }
  void set_attr(const std::string& name, double value);
  void set_attr(const std::string& name, long long value);
  void set_attr(const std::string& name, int value) { set_attr(name, static_cast<long long>(value)); }

  void commit();

  // Called after every array with ("array", count) and before the rename with ("rename", count):
  // lets a test kill the process at a chosen point of the write.
  void set_stage_hook(std::function<void(const char* stage, std::size_t arrays)> hook) {
    hook_ = std::move(hook);
  }

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  void put_raw(const std::string& name, const void* data, const Shape& shape, hid_t file_type,
               hid_t mem_type, DType type, std::size_t elem_bytes);
  void check_attr_name(const std::string& name) const;
  void keep_previous();

  std::string path_, tmp_;
  h5::Handle file_;
  std::size_t arrays_ = 0;
  bool committed_ = false;
  std::function<void(const char*, std::size_t)> hook_;
  std::map<std::string, std::uint64_t> digests_;  // "array:NAME" / "attr:NAME" -> digest
};

class CheckpointReader {
 public:
  explicit CheckpointReader(std::string path);

  bool has(const std::string& name) const;
  std::vector<std::string> names() const;  // every array, sorted
  Shape shape(const std::string& name) const;
  DType dtype(const std::string& name) const;

  // Reads into `out` (expected.numel() elements) after checking the type and the shape.
  void read(const std::string& name, float* out, const Shape& expected) const;
  void read(const std::string& name, double* out, const Shape& expected) const;
  void read(const std::string& name, std::int64_t* out, const Shape& expected) const;
  void read(const std::string& name, std::uint64_t* out, const Shape& expected) const;
  template <class T>
  std::vector<T> read(const std::string& name, const Shape& expected) const {
    std::vector<T> v(static_cast<std::size_t>(expected.numel()));
    read(name, v.data(), expected);
    return v;
  }
  // Any shape (checked only for the type).
  template <class T>
  std::vector<T> read(const std::string& name) const {
    return read<T>(name, shape(name));
  }
  std::vector<std::uint8_t> read_bytes(const std::string& name) const;
  std::string read_string(const std::string& name) const;

  bool has_attr(const std::string& name) const;
  std::string attr_string(const std::string& name) const;
  double attr_double(const std::string& name) const;
  long long attr_int(const std::string& name) const;

  const std::string& path() const { return path_; }

  // The checksum of what the file holds now (every array and root attribute but the checksum).
  std::string contents_checksum() const;

 private:
  // Throws, naming the file and PATH.prev when it is intact, unless the contents match the
  // checksum stored at commit().
  void verify() const;
  // " The previous checkpoint PATH.prev (step S) is intact: ..." for error messages.
  std::string previous_note() const;
  h5::Handle open_array(const std::string& name) const;
  void read_raw(const std::string& name, void* out, const Shape& expected, DType want,
                hid_t mem_type) const;

  std::string path_;
  h5::Handle file_;
};

}  // namespace lpt
