#include "core/fs.h"
#include "mltrain/error.h"
#include "mltrain/files.h"

namespace mltrain {
namespace {

// The part of a json.exception's message after "[json.exception.x.n] ".
std::string detail(const nlohmann::json::exception& e) {
  std::string msg = e.what();
  const auto close = msg.find("] ");
  if (close != std::string::npos) msg = msg.substr(close + 2);
  const auto colon = msg.find(": ");  // "parse error at line 1, column 5: syntax error ..."
  if (msg.rfind("parse error", 0) == 0 && colon != std::string::npos) msg = msg.substr(colon + 2);
  return msg;
}

}  // namespace

nlohmann::json parse_json(const std::string& text, const std::string& where,
                          std::size_t first_line) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::size_t line = first_line, col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    fail_usage(where + ":" + std::to_string(line) + ":" + std::to_string(col) +
               ": invalid JSON: " + detail(e));
  } catch (const nlohmann::json::exception& e) {
    fail_usage(where + ":" + std::to_string(first_line) + ": invalid JSON: " + detail(e));
  }
}

std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write_json_atomic(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

nlohmann::json read_json_file(const std::string& path) {
  if (!path_exists(path)) fail_usage(path + ": not found");
  return parse_json(read_file(path), path);
}

std::vector<nlohmann::json> read_jsonl_file(const std::string& path) {
  std::vector<nlohmann::json> out;
  if (!path_exists(path)) return out;
  const std::string text = read_file(path);
  std::size_t pos = 0;
  std::size_t line = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    ++line;
    if (nl == std::string::npos) break;  // torn last line
    out.push_back(parse_json(text.substr(pos, nl - pos), path, line));
    pos = nl + 1;
  }
  return out;
}

}  // namespace mltrain
