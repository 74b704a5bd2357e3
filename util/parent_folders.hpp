#pragma once
#include <string>

namespace lpt {

// Creates the folders above `p` (like mkdir -p), but names the offending path when one of them
// is a regular file ("out.txt/run.h5") instead of failing with a bare "Not a directory".
// `what` names the file for the message ("record", "checkpoint").
void create_parent_folders(const std::string& p, const std::string& what);

}  // namespace lpt
