// Internal: JSON files as ml-train writes and reads them.
#ifndef MLTRAIN_SRC_CORE_JSON_IO_H_
#define MLTRAIN_SRC_CORE_JSON_IO_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mltrain {

// Parses JSON text. Any failure (syntax, a number out of double range like
// 1e999, ill-formed UTF-8) is an Error (exit 2) "WHERE:LINE:COL: invalid
// JSON: what", never a json.exception. first_line numbers the text's lines.
nlohmann::json parse_json(const std::string& text, const std::string& where,
                          std::size_t first_line = 1);

// Pretty JSON (2-space indent) + newline, written atomically. Strings must
// be valid UTF-8 (json_text_or_bytes for bytes from outside); any that is not
// is written with U+FFFD rather than failing.
void write_json_atomic(const std::string& path, const nlohmann::json& j);
// Compact JSON for one line of a JSONL file, with the same UTF-8 rule.
std::string json_line(const nlohmann::json& j);

// Throws Error naming the file (and line:column for syntax errors).
nlohmann::json read_json_file(const std::string& path);
// One value per line; a torn last line (crash mid-write) is ignored.
// A missing file reads as no lines.
std::vector<nlohmann::json> read_jsonl_file(const std::string& path);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_CORE_JSON_IO_H_
