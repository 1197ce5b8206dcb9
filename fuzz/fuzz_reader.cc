// Fuzzes the data readers: JSONL, CSV, TSV and plain lines, each plain or
// gzip (detected from the content), with labels required or not and bad
// rows skipped or not (the first byte chooses). Anything but an
// mltrain::Error is a finding, and so is an example whose text, label or id
// is not valid UTF-8 after reading, or a label missing where one is required.
// Two differential checks: the file read in small blocks (RecordStream) gives
// the rows of the whole read, and for each JSONL line the simdjson fast path,
// when it accepts the line, agrees with the nlohmann reference.
#include <cstdlib>
#include <tuple>

#include "data/record_stream.h"
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
    if (format != "lines") {
      mltrain::RecordStream in(path, format, 1 + (data[0] >> 6) * 7);
      mltrain::RecordBlock b;
      mltrain::TextFile parts;
      std::vector<std::string> header;
      while (in.next(&b)) {
        mltrain::parse_records(path, format, b.text, b.first_line, "text", "label", ro, &header,
                               &parts);
      }
      if (parts.rows.size() != f.rows.size() || parts.skipped != f.skipped) std::abort();
      for (std::size_t i = 0; i < f.rows.size(); ++i) {
        const auto& a = f.rows[i];
        const auto& b2 = parts.rows[i];
        if (std::tie(a.text, a.label, a.id, a.line) != std::tie(b2.text, b2.label, b2.id, b2.line))
          std::abort();
      }
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
  if (format == "jsonl") {
    const std::string text = mltrain::fuzz::as_string(data + 1, size - 1);
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string row = text.substr(pos, nl - pos);
      pos = nl + 1;
      mltrain::sanitize_utf8(&row);
      mltrain::Example fast, ref;
      if (!mltrain::parse_jsonl_row_fast(row, "text", "label", ro.require_label, &fast)) continue;
      try {
        mltrain::parse_jsonl_row("p", row, 1, "text", "label", ro.require_label, &ref);
      } catch (const mltrain::Error&) {
        std::abort();  // the fast path accepted a row the reference rejects
      }
      if (fast.text != ref.text || fast.label != ref.label || fast.id != ref.id) std::abort();
    }
  }
  return 0;
}
