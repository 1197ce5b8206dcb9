// Internal: JSON files as ml-train writes and reads them.
#ifndef MLTRAIN_SRC_CORE_JSON_IO_H_
#define MLTRAIN_SRC_CORE_JSON_IO_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mltrain {

// Pretty JSON (2-space indent) + newline, written atomically.
void write_json_atomic(const std::string& path, const nlohmann::json& j);
// Throws Error naming the file (and line for syntax errors).
nlohmann::json read_json_file(const std::string& path);
// One object per line; a torn last line (crash mid-write) is ignored.
// A missing file reads as no lines.
std::vector<nlohmann::json> read_jsonl_file(const std::string& path);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_CORE_JSON_IO_H_
