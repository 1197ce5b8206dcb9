// Text-classification data: readers, tokenizer, vocabulary, encoded splits.
//
// Readers accept JSONL, CSV (RFC 4180: quoted fields, embedded commas and
// newlines, CRLF, UTF-8 BOM) and TSV, each optionally gzip-compressed
// (detected from the content, not the name). Invalid UTF-8 in a text is
// replaced by U+FFFD rather than rejected: real e-mail is full of latin-1.
// Every error names file:line and what was expected (mltrain::Error, exit 2).
//
// Nothing here depends on LibTorch.
#ifndef MLTRAIN_DATA_H_
#define MLTRAIN_DATA_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mltrain/canonical_json.h"  // is_valid_utf8, sanitize_utf8
#include "mltrain/config.h"

namespace mltrain {

struct Example {
  std::string text;
  std::string label;
  std::int64_t line = 0;  // 1-based line where the row starts
};

struct TextFile {
  std::string path;
  std::string format;  // resolved: jsonl|csv|tsv
  bool gzip = false;
  std::string sha256;  // of the file's bytes as stored
  std::uint64_t bytes = 0;
  std::int64_t repaired_utf8_rows = 0;
  std::vector<Example> rows;
};

// Reads a whole file, gunzipping it if it is gzip. Throws Error naming path.
std::string read_maybe_gzip(const std::string& path, bool* was_gzip = nullptr);

// format: auto|jsonl|csv|tsv. "auto" goes by the extension (.gz ignored).
TextFile read_examples(const std::string& path, const std::string& format,
                       const std::string& text_field, const std::string& label_field);

// Splits texts into tokens: `word` = maximal runs of letters, digits and
// non-ASCII characters, with . , ( ) ! ? ' kept as one-character tokens and
// every other ASCII character a separator (basic_english-like); `char` = one
// token per UTF-8 character (whitespace runs collapse to one space).
// Keeps at most max_len tokens, then appends word n-grams (2..ngrams) of
// those tokens joined by a space.
class Tokenizer {
 public:
  explicit Tokenizer(const TokenizerConfig& cfg);
  void tokenize(std::string_view text, std::vector<std::string>* out) const;

 private:
  TokenizerConfig cfg_;
};

// Vocabulary: id 0 = <pad>, 1 = <unk>, then tokens ordered by frequency
// descending, then token bytes ascending (no hash-map iteration order).
class Vocab {
 public:
  static constexpr std::int32_t kPad = 0;
  static constexpr std::int32_t kUnk = 1;

  static Vocab build(const std::vector<std::vector<std::string>>& docs, std::int64_t min_freq,
                     std::int64_t max_vocab);
  // Parses the vocab.txt format written by to_text(). `where` names the file.
  static Vocab from_text(const std::string& text, const std::string& where);

  std::int32_t id(const std::string& token) const;
  std::int64_t size() const { return static_cast<std::int64_t>(tokens_.size()); }
  const std::string& token(std::int32_t id) const { return tokens_[static_cast<std::size_t>(id)]; }
  // "token\tcount\n" per line, in id order.
  std::string to_text() const;

 private:
  std::vector<std::string> tokens_;
  std::vector<std::int64_t> counts_;
  std::unordered_map<std::string, std::int32_t> index_;
};

struct EncodedSplit {
  std::string name;                            // train|val|test
  std::vector<std::vector<std::int32_t>> ids;  // token ids per example
  std::vector<std::int64_t> labels;            // class index per example
  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
};

struct PreparedData {
  Vocab vocab;
  std::vector<std::string> label_names;  // sorted; index = class id
  EncodedSplit train, val, test;         // test may be empty
  nlohmann::json fingerprint;            // the content of data.json
  double seconds = 0;                    // load + tokenize + vocab time
};

// Reads, tokenizes and encodes every split of cfg.data. The vocabulary and
// label set come from the training split, unless `vocab`/`labels` are given
// (fine-tuning from an earlier run keeps its vocabulary).
PreparedData prepare_data(const Config& cfg, const Vocab* vocab = nullptr,
                          const std::vector<std::string>* labels = nullptr);

}  // namespace mltrain

#endif  // MLTRAIN_DATA_H_
