#include "core/json_io.h"

#include "core/fs.h"
#include "mltrain/error.h"

namespace mltrain {

void write_json_atomic(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

nlohmann::json read_json_file(const std::string& path) {
  if (!path_exists(path)) fail_usage(path + ": not found");
  std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::size_t line = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) line += text[i] == '\n';
    fail_usage(path + ":" + std::to_string(line) + ": invalid JSON");
  }
}

std::vector<nlohmann::json> read_jsonl_file(const std::string& path) {
  std::vector<nlohmann::json> out;
  if (!path_exists(path)) return out;
  std::string text = read_file(path);
  std::size_t pos = 0;
  std::size_t line = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    ++line;
    if (nl == std::string::npos) break;  // torn last line
    try {
      out.push_back(nlohmann::json::parse(text.begin() + static_cast<long>(pos),
                                          text.begin() + static_cast<long>(nl)));
    } catch (const nlohmann::json::parse_error&) {
      fail_usage(path + ":" + std::to_string(line) + ": invalid JSON line");
    }
    pos = nl + 1;
  }
  return out;
}

}  // namespace mltrain
