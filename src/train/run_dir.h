// Internal: files of a run directory and how their numbers are shown.
#ifndef MLTRAIN_SRC_TRAIN_RUN_DIR_H_
#define MLTRAIN_SRC_TRAIN_RUN_DIR_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mltrain {

// Pretty JSON (2-space indent) + newline, written atomically.
void write_json_atomic(const std::string& path, const nlohmann::json& j);
// Throws Error naming the file (and line:column for syntax errors).
nlohmann::json read_json_file(const std::string& path);
// One object per line; a torn last line (crash mid-write) is ignored.
std::vector<nlohmann::json> read_jsonl_file(const std::string& path);

std::string now_iso8601();

// v with `digits` decimals (what every table and log line shows).
std::string fixed_decimals(double v, int digits = 4);
// The same for a JSON value; "-" when it is not a number.
std::string fixed_or_dash(const nlohmann::json& v, int digits = 4);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_RUN_DIR_H_
