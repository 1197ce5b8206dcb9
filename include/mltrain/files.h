// Files as ml-train reads and writes them, for programs that keep their own
// artefacts beside a run's (Run::write_file covers files inside the run
// directory).
//
// Every file written whole is written atomically: to a temporary file in the
// same directory, fsync'ed, then renamed over the target, so a crash (even
// SIGKILL) leaves either the old file or the new one, never a half-written
// one. Every failure is an mltrain::Error (exit 2) naming the path (and
// line:column for JSON syntax errors), never an exception of another type.
#ifndef MLTRAIN_FILES_H_
#define MLTRAIN_FILES_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mltrain {

// ------------------------------------------------------------ files ----

void write_file_atomic(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
// mkdir -p.
void make_dirs(const std::string& path);
std::string join_path(const std::string& a, const std::string& b);
// The names in a directory (not . and ..), sorted; none when it does not exist.
std::vector<std::string> list_dir(const std::string& dir);

// ------------------------------------------------------------- JSON ----

// Parses JSON text. Any failure (syntax, a number out of double range like
// 1e999, ill-formed UTF-8) is an Error (exit 2) "WHERE:LINE:COL: invalid
// JSON: what", never a json.exception. first_line numbers the text's lines.
nlohmann::json parse_json(const std::string& text, const std::string& where,
                          std::size_t first_line = 1);
// Pretty JSON (2-space indent) + newline, written atomically. Strings must
// be valid UTF-8; any that is not is written with U+FFFD rather than failing.
void write_json_atomic(const std::string& path, const nlohmann::json& j);
// Compact JSON for one line of a JSONL file, with the same UTF-8 rule.
std::string json_line(const nlohmann::json& j);
nlohmann::json read_json_file(const std::string& path);
// One value per line; a torn last line (crash mid-write) is ignored.
// A missing file reads as no lines.
std::vector<nlohmann::json> read_jsonl_file(const std::string& path);

// ------------------------------------------------- the shipped data ----

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

#endif  // MLTRAIN_FILES_H_
