#include "mltrain/canonical_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mltrain/error.h"

namespace mltrain {
namespace {

void append_u_escape(std::string* out, unsigned unit) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04x", unit);
  out->append(buf);
}

void dump(const nlohmann::json& v, std::string* out) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      out->append("null");
      return;
    case nlohmann::json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return;
    case nlohmann::json::value_t::number_integer:
      out->append(std::to_string(v.get<std::int64_t>()));
      return;
    case nlohmann::json::value_t::number_unsigned:
      out->append(std::to_string(v.get<std::uint64_t>()));
      return;
    case nlohmann::json::value_t::number_float:
      out->append(python_float_repr(v.get<double>()));
      return;
    case nlohmann::json::value_t::string:
      out->append(json_quote_ascii(v.get_ref<const std::string&>()));
      return;
    case nlohmann::json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first) out->push_back(',');
        first = false;
        dump(e, out);
      }
      out->push_back(']');
      return;
    }
    case nlohmann::json::value_t::object: {
      // nlohmann::json objects are std::map ordered by UTF-8 bytes, which is
      // the same order as Python's sort by code point.
      out->push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        out->append(json_quote_ascii(it.key()));
        out->push_back(':');
        dump(it.value(), out);
      }
      out->push_back('}');
      return;
    }
    default:
      fail_usage("canonical JSON: unsupported value type (binary or discarded)");
  }
}

}  // namespace

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";

  // Shortest round-trip digits in scientific form, e.g. "-1.2345e-05".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string out;
  std::size_t pos = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    pos = 1;
  }
  std::size_t e = sci.find('e');
  std::string digits;
  for (std::size_t i = pos; i < e; ++i) {
    if (sci[i] != '.') digits.push_back(sci[i]);
  }
  int exp = std::atoi(sci.c_str() + e + 1);
  int n = static_cast<int>(digits.size());

  // Python's repr uses fixed notation when -4 <= exponent < 16.
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      if (n <= exp + 1) {
        out += digits + std::string(exp + 1 - n, '0') + ".0";
      } else {
        out += digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
      }
    } else {
      out += "0." + std::string(-exp - 1, '0') + digits;
    }
    return out;
  }
  out.push_back(digits[0]);
  if (n > 1) out += "." + digits.substr(1);
  out.push_back('e');
  out.push_back(exp < 0 ? '-' : '+');
  int a = std::abs(exp);
  if (a < 10) out.push_back('0');
  out += std::to_string(a);
  return out;
}

std::string json_quote_ascii(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    unsigned cp;
    int len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      len = 4;
    } else {
      fail_usage("canonical JSON: string is not valid UTF-8");
    }
    if (i + len > n) fail_usage("canonical JSON: string is not valid UTF-8 (truncated)");
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) fail_usage("canonical JSON: string is not valid UTF-8");
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const unsigned kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      fail_usage("canonical JSON: string is not valid UTF-8 (overlong or surrogate)");
    }
    i += len;
    switch (cp) {
      case '"':
        out.append("\\\"");
        continue;
      case '\\':
        out.append("\\\\");
        continue;
      case '\n':
        out.append("\\n");
        continue;
      case '\r':
        out.append("\\r");
        continue;
      case '\t':
        out.append("\\t");
        continue;
      case '\b':
        out.append("\\b");
        continue;
      case '\f':
        out.append("\\f");
        continue;
      default:
        break;
    }
    if (cp >= 0x20 && cp <= 0x7E) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x10000) {
      append_u_escape(&out, cp);
    } else {
      unsigned v = cp - 0x10000;
      append_u_escape(&out, 0xD800 + (v >> 10));
      append_u_escape(&out, 0xDC00 + (v & 0x3FF));
    }
  }
  out.push_back('"');
  return out;
}

std::string canonical_json(const nlohmann::json& value) {
  std::string out;
  dump(value, &out);
  return out;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[k], or 0 if invalid.
std::size_t utf8_len_at(std::string_view s, std::size_t k) {
  unsigned char c = static_cast<unsigned char>(s[k]);
  if (c < 0x80) return 1;
  std::size_t l;
  unsigned cp;
  if (c >= 0xC2 && c <= 0xDF) {
    l = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    l = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    l = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (k + l > s.size()) return 0;
  for (std::size_t j = 1; j < l; ++j) {
    unsigned char cc = static_cast<unsigned char>(s[k + j]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (l == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return l;
}

// Index of the first invalid byte, or s.size().
std::size_t first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    // ASCII, eight bytes at a time.
    while (i + 8 <= s.size()) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if ((w & 0x8080808080808080ull) != 0) break;
      i += 8;
    }
    if (i == s.size()) break;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = utf8_len_at(s, i);
    if (len == 0) return i;
    i += len;
  }
  return i;
}

}  // namespace

bool is_valid_utf8(std::string_view s) { return first_invalid_utf8(s) == s.size(); }

bool sanitize_utf8(std::string* text) {
  const std::string& s = *text;
  const std::size_t n = s.size();
  std::size_t i = first_invalid_utf8(s);
  if (i == n) return false;
  std::string out = s.substr(0, i);
  while (i < n) {
    std::size_t len = utf8_len_at(s, i);
    if (len > 0) {
      out.append(s, i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  *text = std::move(out);
  return true;
}

nlohmann::json json_text_or_bytes(const std::string& bytes) {
  if (is_valid_utf8(bytes)) return bytes;
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 15]);
  }
  std::string text = bytes;
  sanitize_utf8(&text);
  return {{"bytes_hex", hex}, {"text", text}};
}

}  // namespace mltrain
