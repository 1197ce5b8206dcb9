// How numbers, JSON values and times are shown in tables, logs and records
// (the formatting every ml-train table uses, for programs that print beside it).
#ifndef MLTRAIN_FORMAT_H_
#define MLTRAIN_FORMAT_H_

#include <nlohmann/json.hpp>
#include <string>

namespace mltrain {

// v with `digits` decimals (what every table and log line shows).
std::string fixed_decimals(double v, int digits = 4);
// The same for a JSON value; "-" when it is not a number.
std::string fixed_or_dash(const nlohmann::json& v, int digits = 4);
// A JSON value as text: strings unquoted, null as "-", numbers as fixed_decimals.
std::string json_text(const nlohmann::json& v);
// The current UTC time as 2026-01-31T12:00:00Z.
std::string now_iso8601();

}  // namespace mltrain

#endif  // MLTRAIN_FORMAT_H_
