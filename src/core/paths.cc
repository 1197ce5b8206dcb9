#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "build_info.h"
#include "core/fs.h"
#include "mltrain/error.h"
#include "mltrain/files.h"

namespace mltrain {
namespace {

std::string dirname_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string self_exe_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  buf[n] = '\0';
  return dirname_of(buf);
}

}  // namespace

std::vector<std::string> data_roots() {
  std::vector<std::string> candidates;
  const std::string exe_dir = self_exe_dir();
  if (!exe_dir.empty()) candidates.push_back(exe_dir + "/../share/ml-train");
  candidates.push_back(MLTRAIN_INSTALL_DATADIR);
  candidates.push_back(MLTRAIN_BUILD_SOURCE_DIR);
  std::vector<std::string> roots;
  for (const auto& c : candidates) {
    char real[PATH_MAX];
    if (!is_directory(c) || ::realpath(c.c_str(), real) == nullptr) continue;
    bool seen = false;
    for (const auto& r : roots) seen = seen || r == real;
    if (!seen) roots.emplace_back(real);
  }
  return roots;
}

std::string find_data_file(const std::string& path) {
  if (path_exists(path)) return path;
  if (path.empty() || path[0] == '/') return "";
  for (const auto& root : data_roots()) {
    const std::string p = join_path(root, path);
    if (path_exists(p)) return p;
  }
  return "";
}

std::string require_data_file(const std::string& path) {
  std::string found = find_data_file(path);
  if (!found.empty()) return found;
  std::string where;
  if (!path.empty() && path[0] != '/') {
    where = " (looked in the working directory";
    for (const auto& r : data_roots()) where += ", " + r;
    where += ")";
  }
  fail_usage(path + ": data file not found" + where);
}

}  // namespace mltrain
