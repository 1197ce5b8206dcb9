// Canonical JSON: the bytes a run's identity is computed from.
//
// canonical_json(v) is byte-identical to Python's
//   json.dumps(v, sort_keys=True, separators=(",", ":"))
// (ensure_ascii on): keys sorted by code point, no spaces, non-ASCII escaped
// as \uXXXX (surrogate pairs above U+FFFF), floats in Python's shortest
// round-trip repr (0.1, 5e-05, 1e+16, 1.0), integers as integers, NaN and
// infinities as NaN/Infinity/-Infinity (Python's allow_nan default).
// Throws mltrain::Error if a string is not valid UTF-8.
#ifndef MLTRAIN_CANONICAL_JSON_H_
#define MLTRAIN_CANONICAL_JSON_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mltrain {

std::string canonical_json(const nlohmann::json& value);

// Python's repr() of a float, e.g. 0.0005 -> "0.0005", 5e-05 -> "5e-05",
// 1e16 -> "1e+16", 2.0 -> "2.0".
std::string python_float_repr(double value);

// A JSON string literal with Python's ensure_ascii escaping, quotes included.
std::string json_quote_ascii(const std::string& utf8);

bool is_valid_utf8(std::string_view text);
// Replaces every invalid UTF-8 sequence by U+FFFD. Returns true if it changed.
bool sanitize_utf8(std::string* text);

// Bytes from outside (a file name, a command-line argument, an environment
// variable) as JSON, losslessly: the string itself when it is valid UTF-8,
// else {"bytes_hex": "<every byte in hex>", "text": "<U+FFFD for bad bytes>"}.
nlohmann::json json_text_or_bytes(const std::string& bytes);

}  // namespace mltrain

#endif  // MLTRAIN_CANONICAL_JSON_H_
