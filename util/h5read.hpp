#pragma once
// Reading a run record (util/h5record.hpp, layout in docs/records.md) back: numbers, CSR series,
// event tables and root attributes. Read-only and opened without HDF5's file lock, so that a
// record whose run is still writing can be read (it may then show a step half-appended; read
// again after the run ends).
//
//   H5Reader r("runs/a.h5");
//   std::vector<double> loss = r.numbers("/train/loss");          // empty when absent
//   std::vector<std::vector<double>> res = r.series("/solver/forward/residuals");
//   for (const H5Event& e : r.events("/control/events")) ...
//   std::string cfg = r.root_attr("config");
#include <cstdint>
#include <string>
#include <vector>

#include "util/h5handle.hpp"

namespace lpt {

struct H5Event {
  std::int64_t step = 0;
  std::string action, reason, metrics;
};

class H5Reader {
 public:
  // Throws lpt::Error naming the file when it is missing or not HDF5.
  explicit H5Reader(const std::string& path);

  bool has(const std::string& path) const;
  // Rows of a dataset or series (0 when absent).
  std::uint64_t rows(const std::string& path) const;
  // Every value of a 1-D or 2-D numeric dataset (float or integer), row-major, as double; empty
  // when the path is absent.
  std::vector<double> numbers(const std::string& path) const;
  // A CSR series group (`values`, `offsets`): one vector per row; empty when absent.
  std::vector<std::vector<double>> series(const std::string& path) const;
  // A compound event table {step, action, reason, metrics}; empty when absent.
  std::vector<H5Event> events(const std::string& path) const;
  // A string attribute on the object at `path` ("/" = root); `fallback` when it is missing.
  std::string attr(const std::string& path, const std::string& name,
                   const std::string& fallback = "") const;

  // A numeric attribute (float or integer) as double; `fallback` when it is missing.
  double attr_number(const std::string& path, const std::string& name, double fallback) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  h5::Handle file_;
};

}  // namespace lpt
