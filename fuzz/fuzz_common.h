// Shared by the libFuzzer targets: a scratch directory of this process.
#ifndef MLTRAIN_FUZZ_FUZZ_COMMON_H_
#define MLTRAIN_FUZZ_FUZZ_COMMON_H_

#include <stdlib.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace mltrain {
namespace fuzz {

inline const std::string& scratch() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/mltrain_fuzz_XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  return dir;
}

// Writes bytes to scratch()/name and returns the path.
inline std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = scratch() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

inline std::string as_string(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace fuzz
}  // namespace mltrain

#endif  // MLTRAIN_FUZZ_FUZZ_COMMON_H_
