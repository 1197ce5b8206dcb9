#include "mltrain/records.h"

#include "core/fs.h"
#include "core/hash.h"
#include "core/json_io.h"
#include "mltrain/error.h"
#include "run/layout.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

json read_if_exists(const std::string& path) {
  return path_exists(path) ? read_json_file(path) : json(nullptr);
}

std::string string_at(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

std::string RunRecord::status() const {
  std::string s = string_at(run, "status");
  if (!s.empty()) return s;
  return summary.is_object() ? "completed" : "";
}

std::string RunRecord::run_id() const {
  const std::string path = join_path(dir, layout::kConfig);
  return path_exists(path) ? sha1_hex(read_file(path)).substr(0, 8) : "";
}

std::string RunRecord::state_sha256() const { return string_at(summary, "state_sha256"); }
std::string RunRecord::state_hash() const { return string_at(summary, "state_hash"); }

bool is_run_dir(const std::string& dir) {
  return is_directory(dir) && path_exists(join_path(dir, layout::kConfig));
}

RunRecord load_run(const std::string& dir) {
  if (!is_directory(dir)) fail_usage(dir + ": not a directory");
  if (!path_exists(join_path(dir, layout::kConfig))) {
    fail_usage(dir + ": not an ml-train run directory (no " + layout::kConfig + ")");
  }
  RunRecord r;
  r.dir = dir;
  r.config = read_json_file(join_path(dir, layout::kConfig));
  r.run = read_if_exists(join_path(dir, layout::kRun));
  r.env = read_if_exists(join_path(dir, layout::kEnv));
  r.data = read_if_exists(join_path(dir, layout::kData));
  r.summary = read_if_exists(join_path(dir, layout::kSummary));
  r.metrics = read_jsonl_file(join_path(dir, layout::kMetrics));
  r.trace = read_jsonl_file(join_path(dir, layout::kTrace));
  return r;
}

json json_at(const json& j, const std::string& dotted_path) {
  const json* cur = &j;
  std::size_t pos = 0;
  while (true) {
    const auto dot = dotted_path.find('.', pos);
    const std::string part = dotted_path.substr(pos, dot == std::string::npos ? dot : dot - pos);
    if (!cur->is_object() || !cur->contains(part)) return nullptr;
    cur = &(*cur)[part];
    if (dot == std::string::npos) return *cur;
    pos = dot + 1;
  }
}

}  // namespace mltrain
