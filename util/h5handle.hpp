#pragma once
// Small pieces shared by the HDF5 run record and the checkpoint files: an owning handle that
// closes any HDF5 id with the right H5?close, a checked-call helper, and a scope that silences
// HDF5's own error-stack printing where a failure is expected and turned into an lpt::Error.
#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "util/error.hpp"

namespace lpt::h5 {

// Owns one HDF5 id (file, group, dataset, dataspace, datatype, attribute or property list).
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles are passed straight to the C API
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Throws lpt::Error("<what>: HDF5 call failed (<file>)") when id < 0; returns the owning handle.
Handle check(hid_t id, const std::string& what);
void check(herr_t status, const std::string& what);

// While alive, HDF5 prints nothing on errors (the caller reports them as lpt::Error).
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// True when `path` ("/a/b/c") exists in the file, checking each link on the way.
bool exists(hid_t file, const std::string& path);

// Opens the group at `path`, creating it and its parents when missing.
Handle open_or_create_group(hid_t file, const std::string& path);

// Variable-length UTF-8 C-string type (for string datasets and attributes).
Handle vlen_string_type();
// Fixed-length UTF-8 string type of `bytes` bytes (at least 1), NUL-padded. Checkpoints use it:
// a damaged variable-length string sends HDF5's global-heap reader into an endless loop, a
// fixed-length one is read as plain bytes and caught by the checksum.
Handle fixed_string_type(std::size_t bytes);

// Attributes on any object (replaced when present).
void write_attr(hid_t obj, const std::string& name, const std::string& value);
void write_attr(hid_t obj, const std::string& name, double value);
void write_attr(hid_t obj, const std::string& name, long long value);
void write_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values);
// A string attribute of fixed length (see fixed_string_type); read back by read_string_attr.
void write_fixed_string_attr(hid_t obj, const std::string& name, const std::string& value);

// Reads a string attribute (fixed or variable length); throws lpt::Error when missing.
std::string read_string_attr(hid_t obj, const std::string& name);
std::vector<std::string> read_string_list_attr(hid_t obj, const std::string& name);
double read_double_attr(hid_t obj, const std::string& name);
long long read_int_attr(hid_t obj, const std::string& name);

}  // namespace lpt::h5
