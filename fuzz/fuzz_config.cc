// Fuzzes the config loader: YAML files, JSON files, KEY=VALUE overrides and
// the MLTRAIN_CONTROL contract. Anything but an mltrain::Error is a finding,
// and so is a config whose canonical JSON does not read back to itself.
#include <cstdlib>
#include <sstream>

#include "fuzz_common.h"
#include "mltrain/config.h"
#include "mltrain/error.h"
#include "mltrain/files.h"
#include "run/control.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text = mltrain::fuzz::as_string(data + 1, size - 1);
  try {
    mltrain::ConfigSources s;
    switch (data[0] % 4) {
      case 0:
        s.file = mltrain::fuzz::write("c.yaml", text);
        break;
      case 1:
        s.file = mltrain::fuzz::write("c.json", text);
        break;
      case 2: {
        std::istringstream lines(text);
        std::string line;
        while (std::getline(lines, line)) s.overrides.push_back(line);
        break;
      }
      default:
        mltrain::RunControl::from_json(mltrain::parse_json(text, "MLTRAIN_CONTROL"),
                                       "MLTRAIN_CONTROL");
        return 0;
    }
    const mltrain::Config c = mltrain::resolve_config(s);
    const mltrain::Config back =
        mltrain::config_from_json(mltrain::parse_json(c.canonical(), "canonical"), "canonical");
    if (back.canonical() != c.canonical()) std::abort();
    c.to_yaml();
  } catch (const mltrain::Error&) {
  }
  return 0;
}
