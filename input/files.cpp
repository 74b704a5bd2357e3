#include "input/files.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sys/stat.h>

#include "util/error.hpp"

namespace lpt {

std::string default_data_dir() {
  const char* env = std::getenv("LPT_DATA_DIR");
  if (env && *env) return env;
  return std::string(LPT_SOURCE_DIR) + "/data";
}

std::string prepare_command(const std::string& name) {
  return "bash scripts/prepare_data.sh --only " + name;
}

namespace {
std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

bool read_whole(const std::string& path, std::vector<std::uint8_t>& out) {
  // A directory opens as a stream whose end lies at 2^63: its "size" must never reach resize().
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  f.seekg(0, std::ios::end);
  const std::streamoff n = f.tellg();
  if (n < 0) return false;
  f.seekg(0, std::ios::beg);
  out.resize(std::size_t(n));
  if (n > 0) f.read(reinterpret_cast<char*>(out.data()), n);
  return bool(f);
}
}  // namespace

std::uint32_t crc32(const void* data, std::size_t n, std::uint32_t crc) {
  static const std::array<std::uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const std::uint8_t*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

DataSetFiles::DataSetFiles(const std::string& dir, const std::string& name)
    : name_(name), path_(dir + "/" + name) {
  const std::string meta_path = path_ + "/meta.json";
  std::ifstream f(meta_path);
  std::error_code ec;
  if (std::filesystem::is_directory(meta_path, ec)) corrupt("meta.json", "is a directory");
  if (!f)
    fail("data set '", name, "' is not prepared: ", meta_path, " is missing; prepare it with: ",
         prepare_command(name), " (or point LPT_DATA_DIR at the directory that holds it)");
  try {
    meta_ = nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(f), {}));
  } catch (const nlohmann::json::exception& e) {
    corrupt("meta.json", std::string("not valid JSON (") + e.what() + ")");
  }
  if (!meta_.is_object() || !meta_.contains("files") || !meta_["files"].is_object())
    corrupt("meta.json", "has no 'files' table");
}

void DataSetFiles::corrupt(const std::string& file, const std::string& problem) const {
  fail("data set '", name_, "': ", path_, "/", file, ": ", problem, "; prepare it again with: ",
       prepare_command(name_), " --force");
}

std::vector<std::uint8_t> DataSetFiles::read(const std::string& file) const {
  const auto& files = meta_["files"];
  if (!files.contains(file)) corrupt("meta.json", "does not list " + file);
  const auto& e = files[file];
  if (!e.is_object() || !e.contains("bytes") || !e["bytes"].is_number_integer() ||
      !e.contains("crc32") || !e["crc32"].is_string())
    corrupt("meta.json", "entry for " + file + " lacks an integer 'bytes' or a string 'crc32'");
  std::vector<std::uint8_t> data;
  if (!read_whole(path_ + "/" + file, data)) corrupt(file, "missing, unreadable or not a regular file");
  const auto want = e["bytes"].get<long long>();
  if ((long long)data.size() != want)
    corrupt(file, "has " + std::to_string(data.size()) + " bytes, meta.json says " +
                      std::to_string(want) + " (truncated or modified)");
  char got[9];
  std::snprintf(got, sizeof got, "%08x", crc32(data.data(), data.size()));
  if (e["crc32"].get<std::string>() != got)
    corrupt(file, std::string("CRC-32 ") + got + " differs from meta.json's " +
                      e["crc32"].get<std::string>() + " (corrupted or modified)");
  return data;
}

std::string DataSetFiles::read_text(const std::string& file) const {
  const auto d = read(file);
  return std::string(d.begin(), d.end());
}

double DataSetFiles::number(const std::string& key) const {
  if (!meta_.contains(key) || !meta_[key].is_number())
    corrupt("meta.json", "lacks the number '" + key + "'");
  return meta_[key].get<double>();
}

long long DataSetFiles::integer(const std::string& key) const {
  if (!meta_.contains(key) || !meta_[key].is_number_integer())
    corrupt("meta.json", "lacks the integer '" + key + "'");
  return meta_[key].get<long long>();
}

}  // namespace lpt
