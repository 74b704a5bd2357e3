#include "train/output_paths.hpp"

#include <filesystem>

#include "util/error.hpp"
#include "util/h5handle.hpp"

namespace lpt {
namespace fs = std::filesystem;

namespace {

bool is_hdf5(const fs::path& p) {
  // HDF5's own test, which also finds the signature after a user block (lpt checkpoints keep
  // their file checksum in one). Only regular files get here.
  h5::QuietErrors quiet;
  return H5Fis_hdf5(p.c_str()) > 0;
}

// What an existing HDF5 file is: an lpt record (root attribute lpt_version, no checkpoint
// marker), an lpt checkpoint (root attribute lpt_checkpoint), or neither / unreadable.
enum class Found { record, checkpoint, other, unreadable };

Found what_is(const fs::path& p) {
  h5::QuietErrors quiet;
  h5::Handle f(H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f.valid()) return Found::unreadable;
  if (H5Aexists_by_name(f, "/", "lpt_checkpoint", H5P_DEFAULT) > 0) return Found::checkpoint;
  if (H5Aexists_by_name(f, "/", "lpt_version", H5P_DEFAULT) > 0) return Found::record;
  return Found::other;
}

const char* describe(Found k) {
  switch (k) {
    case Found::record: return "an lpt run record";
    case Found::checkpoint: return "an lpt checkpoint";
    case Found::other: return "an HDF5 file lpt did not write";
    case Found::unreadable: return "an HDF5 file that cannot be opened (damaged, or locked by another program)";
  }
  return "";
}

}  // namespace

void check_output_path(const std::string& key, const std::string& path, OutputKind kind,
                       bool overwrite) {
  if (path.empty()) return;
  const fs::path p(path);
  std::error_code ec;
  // Every existing ancestor must be a directory: "notes.txt/run.h5" cannot be created.
  for (fs::path a = p.parent_path(); !a.empty(); a = a.parent_path()) {
    const fs::file_status st = fs::status(a, ec);
    if (fs::exists(st)) {
      require(fs::is_directory(st), key, ": '", path, "' lies under '", a.string(),
              "', which is a file, not a directory; choose another ", key);
      break;
    }
    if (a == a.parent_path()) break;
  }
  const fs::file_status st = fs::status(p, ec);
  if (!fs::exists(st)) return;
  require(!fs::is_directory(st), key, ": '", path, "' is a directory; name a file inside it, e.g. ",
          (p / "run.h5").string());
  require(fs::is_regular_file(st), key, ": '", path, "' is a special file (device, FIFO or "
          "socket); lpt writes regular HDF5 files only: choose another ", key);
  require(is_hdf5(p), key, ": '", path, "' exists and is not an HDF5 file; lpt would overwrite "
          "it. Remove it yourself if it is yours to lose, or choose another ", key);
  const Found found = what_is(p);
  const Found want = kind == OutputKind::record ? Found::record : Found::checkpoint;
  if (found == want || overwrite) return;
  if (found == Found::record || found == Found::checkpoint)
    fail(key, ": '", path, "' is ", describe(found), ", not ",
         describe(want), "; writing there would destroy it. Choose another ", key,
         " (or set output.overwrite=true to replace it)");
  fail(key, ": '", path, "' is ", describe(found), "; lpt replaces only its own ",
       kind == OutputKind::record ? "records" : "checkpoints", " there. Choose another ", key,
       ", or set output.overwrite=true to replace it");
}

void check_output_paths(const std::string& record, const std::string& checkpoint,
                        bool overwrite) {
  check_output_path("output.file", record, OutputKind::record, overwrite);
  check_output_path("output.checkpoint", checkpoint, OutputKind::checkpoint, overwrite);
  if (record.empty() || checkpoint.empty()) return;
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(fs::absolute(record), ec);
  const fs::path b = fs::weakly_canonical(fs::absolute(checkpoint), ec);
  require(a != b, "output.file and output.checkpoint are the same file ('", record, "' and '",
          checkpoint, "'); the checkpoint would replace the record: give them different names");
}

std::string kept_checkpoint_path(const std::string& checkpoint, long step) {
  const std::string tag = ".step" + std::to_string(step);
  const std::string ext = ".h5";
  if (checkpoint.size() > ext.size() &&
      checkpoint.compare(checkpoint.size() - ext.size(), ext.size(), ext) == 0)
    return checkpoint.substr(0, checkpoint.size() - ext.size()) + tag + ext;
  return checkpoint + tag;
}

}  // namespace lpt
