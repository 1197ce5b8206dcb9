// Internal: where ml-train finds its shipped data when a relative path does
// not exist relative to the working directory.
#ifndef MLTRAIN_SRC_CORE_PATHS_H_
#define MLTRAIN_SRC_CORE_PATHS_H_

#include <string>
#include <vector>

namespace mltrain {

// The directories a relative data path is also looked up in, in order:
// <dir of the running executable>/../share/ml-train (an installed ml-train),
// the configured install prefix's share/ml-train, and the source tree this
// library was built from. Only those that exist.
std::vector<std::string> data_roots();

// The file to read for `path` as written in a config: `path` itself when it
// exists (relative to the working directory, or absolute), else the first
// data root holding it (relative paths only). "" when none does.
std::string find_data_file(const std::string& path);

// find_data_file, or Error (exit 2) "<path>: data file not found" naming
// where it looked.
std::string require_data_file(const std::string& path);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_CORE_PATHS_H_
