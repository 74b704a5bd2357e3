#pragma once
// The HDF5 run record: one file per run holding everything measured, step by step (layout and
// reading it with h5py: docs/records.md).
//
//   H5Record rec(cfg.output.file, H5Record::Mode::create);
//   rec.write_run_info(cfg.resolved_string());
//   for each step: rec.append("/train/loss", loss);
//                  rec.append_row("/train/phase_time", {fwd, bwd, opt},
//                                 {"forward", "backward", "optimizer"});
//                  rec.append_series("/solver/forward/residuals", residuals);
//                  rec.flush();   // one flush per step: a killed run keeps every flushed step
//
// Datasets and groups are created on first use, extendable along rows, chunked, uncompressed.
// Serial HDF5 and no MPI: the caller decides which rank owns the record (rank 0); other ranks
// must not construct one for the same file. Not thread-safe (neither is serial HDF5): call it
// from one thread, outside OpenMP regions.
#include <hdf5.h>

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "util/h5handle.hpp"

namespace lpt {

class H5Record {
 public:
  enum class Mode {
    create,  // a new run: creates the file (truncating an old one), parent folders included
    append,  // a resumed run: opens the file and appends; creates it when missing
  };

  H5Record(const std::string& path, Mode mode);
  ~H5Record();
  H5Record(H5Record&&) noexcept;
  H5Record& operator=(H5Record&&) noexcept;
  H5Record(const H5Record&) = delete;
  H5Record& operator=(const H5Record&) = delete;

  // Root attributes config, lpt_version, hostname, start_time (ISO 8601 UTC) when the file is new
  // (a resumed record keeps the first run's); always appends one JSON row
  // {"time","hostname","lpt_version","config"} to /run/starts. Flushes.
  void write_run_info(const std::string& resolved_config_json);

  // One value per call to the 1-D dataset `path` (float64 for floating T, int64 for integral T).
  template <class T>
  void append(const std::string& path, T value) {
    static_assert(std::is_arithmetic<T>::value, "append() takes a number");
    if constexpr (std::is_floating_point<T>::value) {
      append_double(path, static_cast<double>(value));
    } else {
      append_int(path, static_cast<std::int64_t>(value));
    }
  }

  // One row of a fixed-width float64 2-D dataset [rows, columns]. `columns` names the columns
  // (stored as the attribute "columns") and is required on the first row; later it may be empty
  // or must match.
  void append_row(const std::string& path, const std::vector<double>& row,
                  const std::vector<std::string>& columns = {});

  // One ragged series per call (e.g. the residual history of this step's MGRIT solve), stored
  // CSR-style in the group `path`: `values` (float64, all series concatenated) and `offsets`
  // (int64, length series + 1, offsets[0] = 0): series i = values[offsets[i]:offsets[i+1]].
  void append_series(const std::string& path, const std::vector<double>& values);

  // One string (UTF-8, variable length) per call to the 1-D dataset `path`.
  void append_string(const std::string& path, const std::string& value);

  // One row of a compound event table {step int64, action, reason, metrics (JSON text)}, e.g.
  // /control/events.
  void append_event(const std::string& path, std::int64_t step, const std::string& action,
                    const std::string& reason, const std::string& metrics_json = "{}");

  // Attributes on the object at `path` ("/" = root); a missing path becomes a group.
  void set_attr(const std::string& path, const std::string& name, const std::string& value);
  void set_attr(const std::string& path, const std::string& name, const char* value);
  void set_attr(const std::string& path, const std::string& name, double value);
  void set_attr(const std::string& path, const std::string& name, long long value);
  void set_attr(const std::string& path, const std::string& name, int value);

  // Rows in a dataset or series (0 when absent), and cutting one back to `rows`: a run resumed
  // from a checkpoint at step s drops what a killed run had recorded past s.
  std::uint64_t rows(const std::string& path);
  void truncate(const std::string& path, std::uint64_t rows);

  // Every series the file holds, sorted: each dataset that appends grow (unlimited first
  // dimension) and each ragged series group (offsets + values) as one path. This is what a
  // checkpoint saves row counts of and what a resume cuts back, derived from the file so that a
  // series a writer adds is covered without being listed anywhere. /run/ is left out: its rows
  // (/run/starts) log the run's starts and are not cut by a resume.
  std::vector<std::string> series();

  // H5Fflush: everything appended so far reaches the file (not fsync'd; the OS keeps it across a
  // killed process, not across a power loss). With autoflush on, every append flushes.
  void flush();
  void set_autoflush(bool on) { autoflush_ = on; }

  const std::string& path() const { return path_; }
  hid_t file_id() const { return file_; }

  // "2026-11-25T18:40:54Z"
  static std::string utc_now_iso8601();

 private:
  enum class Kind { f64, i64, str, event };
  struct Dset {
    h5::Handle id;
    Kind kind = Kind::f64;
    std::uint64_t rows = 0;
    std::uint64_t cols = 0;  // 0 for 1-D datasets
  };

  void append_double(const std::string& path, double v);
  void append_int(const std::string& path, std::int64_t v);
  Dset& dataset(const std::string& path, Kind kind, std::uint64_t cols);
  Dset open_existing(const std::string& path, Kind kind, std::uint64_t cols);
  Dset create(const std::string& path, Kind kind, std::uint64_t cols);
  void write_rows(Dset& d, const void* data, std::uint64_t n, hid_t mem_type);
  void after_append();
  h5::Handle object_at(const std::string& path);

  std::string path_;
  h5::Handle file_;
  bool autoflush_ = false;
  std::map<std::string, Dset> open_;
  h5::Handle string_type_, event_type_;  // memory types, built once
};

}  // namespace lpt
