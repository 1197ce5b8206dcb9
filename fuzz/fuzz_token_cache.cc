// Fuzzes the token cache reader. The first byte picks what the rest is: 0 =
// a whole entry as stored (the header and checksum must reject it), else a
// payload behind a valid header and checksum, so the fuzzer reaches the
// parsing and range checks the checksum would otherwise hide. A load that
// succeeds must give splits whose every offset, id and label is in range;
// anything but a clean refusal is a finding.
#include "data/token_cache.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string bytes = mltrain::fuzz::as_string(data + 1, size - 1);
  if (data[0] != 0) bytes = mltrain::token_cache_entry(bytes);
  const std::string path = mltrain::fuzz::write("entry.bin", bytes);
  mltrain::PreparedData d;
  std::string why;
  if (!mltrain::load_token_cache(path, &d, &why)) return 0;
  const auto vocab = d.vocab.size();
  const auto classes = static_cast<std::int64_t>(d.label_names.size());
  for (const mltrain::EncodedSplit* s : {&d.train, &d.val, &d.test}) {
    for (std::int64_t i = 0; i < s->size(); ++i) {
      if (s->label(i) < 0 || s->label(i) >= classes) __builtin_trap();
      for (std::int32_t id : s->tokens(i)) {
        if (id < 0 || id >= vocab) __builtin_trap();
      }
    }
  }
  return 0;
}
