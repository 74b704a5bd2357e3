#pragma once
// Where prepared data sets live and how their files are read back with the corruption check of
// docs/data.md: every data set directory holds meta.json, which lists each file's size and CRC-32;
// a file that is missing, of the wrong size or with the wrong checksum is an lpt::Error naming the
// file and the command that prepares it again.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lpt {

// $LPT_DATA_DIR when set and non-empty, else <source dir>/data.
std::string default_data_dir();

// "bash scripts/prepare_data.sh --only <name>"
std::string prepare_command(const std::string& name);

// CRC-32 (the zlib / PNG polynomial, as Python's zlib.crc32); `crc` continues a running value.
std::uint32_t crc32(const void* data, std::size_t n, std::uint32_t crc = 0);

// One prepared data set: <dir>/<name>/meta.json and the files it lists.
class DataSetFiles {
 public:
  // Reads and checks meta.json; throws lpt::Error if it is missing or unreadable.
  DataSetFiles(const std::string& dir, const std::string& name);

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }  // <dir>/<name>
  const nlohmann::json& meta() const { return meta_; }

  // Contents of one listed file after the size and CRC-32 check.
  std::vector<std::uint8_t> read(const std::string& file) const;
  std::string read_text(const std::string& file) const;

  // meta[key] as a number / integer, with an error naming meta.json when absent or mistyped.
  double number(const std::string& key) const;
  long long integer(const std::string& key) const;

  // Throws lpt::Error "<what>: <path>: <problem>; prepare it with: <command>".
  [[noreturn]] void corrupt(const std::string& file, const std::string& problem) const;

 private:
  std::string name_, path_;
  nlohmann::json meta_;
};

}  // namespace lpt
