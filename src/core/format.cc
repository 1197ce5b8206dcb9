#include "mltrain/format.h"

#include <ctime>
#include <iomanip>
#include <sstream>

namespace mltrain {

std::string fixed_decimals(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string fixed_or_dash(const nlohmann::json& v, int digits) {
  return v.is_number() ? fixed_decimals(v.get<double>(), digits) : "-";
}

std::string json_text(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fixed_decimals(v.get<double>());
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace mltrain
