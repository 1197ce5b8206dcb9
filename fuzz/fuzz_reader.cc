// Fuzzes the data readers: JSONL, CSV and TSV, each plain or gzip (detected
// from the content). Anything but an mltrain::Error is a finding, and so is
// an example whose text or label is not valid UTF-8 after reading.
#include <cstdlib>

#include "fuzz_common.h"
#include "mltrain/data.h"
#include "mltrain/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* kFormats[] = {"jsonl", "csv", "tsv"};
  const char* format = kFormats[data[0] % 3];
  const std::string path = mltrain::fuzz::write(std::string("d.") + format,
                                                mltrain::fuzz::as_string(data + 1, size - 1));
  try {
    const mltrain::TextFile f = mltrain::read_examples(path, "auto", "text", "label");
    for (const auto& ex : f.rows) {
      if (!mltrain::is_valid_utf8(ex.text) || !mltrain::is_valid_utf8(ex.label)) std::abort();
    }
    mltrain::TokenizerConfig tc;
    tc.ngrams = 2;
    mltrain::Tokenizer tok(tc);
    std::vector<std::string> tokens;
    for (const auto& ex : f.rows) tok.tokenize(ex.text, &tokens);
  } catch (const mltrain::Error&) {
  }
  return 0;
}
