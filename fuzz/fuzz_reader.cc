// Fuzzes the data readers: JSONL, CSV, TSV and plain lines, each plain or
// gzip (detected from the content), with labels required or not and bad
// rows skipped or not (the first byte chooses). Anything but an
// mltrain::Error is a finding, and so is an example whose text, label or id
// is not valid UTF-8 after reading, or a label missing where one is required.
#include <cstdlib>

#include "fuzz_common.h"
#include "mltrain/data.h"
#include "mltrain/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* kFormats[] = {"jsonl", "csv", "tsv", "lines"};
  const std::string format = kFormats[data[0] % 4];
  mltrain::ReadOptions ro;
  ro.require_label = (data[0] & 4) == 0;
  ro.skip_bad = (data[0] & 8) != 0;
  const std::string path =
      mltrain::fuzz::write("d." + format, mltrain::fuzz::as_string(data + 1, size - 1));
  try {
    const mltrain::TextFile f = mltrain::read_examples(path, format, "text", "label", ro);
    for (const auto& ex : f.rows) {
      if (!mltrain::is_valid_utf8(ex.text) || !mltrain::is_valid_utf8(ex.label) ||
          !mltrain::is_valid_utf8(ex.id)) {
        std::abort();
      }
      if (ro.require_label && format != "lines" && ex.label.empty()) std::abort();
    }
    mltrain::TokenizerConfig tc;
    tc.kind = (data[0] & 16) ? "char" : "word";
    tc.ngrams = 3;
    tc.hash_buckets = (data[0] & 32) ? 1000 : 0;
    mltrain::Tokenizer tok(tc);
    std::vector<std::string> tokens;
    for (const auto& ex : f.rows) tok.tokenize(ex.text, &tokens);
  } catch (const mltrain::Error&) {
  }
  return 0;
}
