#include "util/parent_folders.hpp"

#include <filesystem>

#include "util/error.hpp"

namespace lpt {
namespace fs = std::filesystem;

void create_parent_folders(const std::string& p, const std::string& what) {
  const fs::path parent = fs::path(p).parent_path();
  if (parent.empty()) return;
  // The nearest existing ancestor must be a folder.
  for (fs::path a = parent; !a.empty(); a = a.parent_path()) {
    std::error_code ec;
    const fs::file_status st = fs::status(a, ec);
    if (!fs::exists(st)) {
      if (a == a.parent_path()) break;
      continue;
    }
    require(fs::is_directory(st), "cannot write the ", what, " '", p, "': '", a.string(),
            "' is a file, not a folder; choose a path whose folders are folders");
    break;
  }
  std::error_code ec;
  fs::create_directories(parent, ec);
  require(!ec, "cannot create the folder '", parent.string(), "' for the ", what, " '", p,
          "': ", ec.message());
}

}  // namespace lpt
