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
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mltrain/canonical_json.h"  // is_valid_utf8, sanitize_utf8
#include "mltrain/config.h"

namespace mltrain {

class SentencePiece;  // src/data/sentencepiece.h

struct Example {
  std::string text;
  std::string label;      // "" when the file has none (ReadOptions::require_label = false)
  std::string id;         // the row's "id" field or column, "" when it has none
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
  std::vector<std::string> skipped;  // with ReadOptions::skip_bad: "FILE:LINE: what" per bad row
};

struct ReadOptions {
  bool require_label = true;  // false: a row without a label is read with label ""
  bool skip_bad = false;      // a bad row is left out and recorded, not an error
};

// Reads a whole file, gunzipping it if it is gzip. Throws Error naming path.
std::string read_maybe_gzip(const std::string& path, bool* was_gzip = nullptr);

// format: auto|jsonl|csv|tsv|lines. "auto" goes by the extension (.gz
// ignored); "lines" is one text per non-blank line, without labels. The path
// "-" reads standard input (as lines unless a format is given).
TextFile read_examples(const std::string& path, const std::string& format,
                       const std::string& text_field, const std::string& label_field,
                       const ReadOptions& options = {});

// Splits texts into tokens:
//   word  maximal runs of letters, digits and non-ASCII characters, with
//         . , ( ) ! ? ' kept as one-character tokens and every other ASCII
//         character a separator (basic_english-like);
//   char  one token per UTF-8 character (whitespace runs collapse to one space);
//   sentencepiece  the pieces of a SentencePiece model (BPE or unigram).
// Text is lower-cased first when asked (ASCII letters). At most max_len tokens
// are kept; then n-grams of sizes 2..ngrams are appended: of consecutive
// tokens joined by a space (word, sentencepiece), or of the characters of each
// word padded with a space on both sides ("char_wb", as scikit-learn's; char).
// With hash_buckets B > 0 each n-gram becomes the token "#<h % B>", h being
// the FNV-1a 64-bit hash of its bytes (fastText-style bounded n-grams).
// Thread-safe: tokenize() may be called from several threads.
class Tokenizer {
 public:
  // For kind=sentencepiece, `sp_model` is the serialized model (see
  // train_sentencepiece); ignored otherwise. Throws Error if it is not one.
  explicit Tokenizer(const TokenizerConfig& cfg, const std::string& sp_model = "");
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  void tokenize(std::string_view text, std::vector<std::string>* out) const;

 private:
  void add_ngrams(std::vector<std::string>* out) const;
  TokenizerConfig cfg_;
  std::unique_ptr<SentencePiece> sp_;
};

// Trains a SentencePiece model (cfg.sp_type, cfg.vocab_size) on `texts`,
// lower-cased when cfg.lowercase, with `seed` passed to SentencePiece's
// generator; returns the serialized model. Training reads every text (no
// sampling), so the pieces depend only on the texts and the settings, not on
// the seed; BPE trains with `threads` threads (its result does not depend on
// them), unigram always with 4 (its EM's sums do).
std::string train_sentencepiece(const TokenizerConfig& cfg, const std::vector<std::string>& texts,
                                std::uint64_t seed, int threads);
// sha256 over the model's pieces and scores (not its bytes: a model records
// the options it was written with) and the number of pieces.
std::string sentencepiece_fingerprint(const std::string& sp_model, std::int64_t* pieces = nullptr);

// Vocabulary: id 0 = <pad>, 1 = <unk>, then tokens ordered by frequency
// descending, then token bytes ascending (no hash-map iteration order).
class Vocab {
 public:
  static constexpr std::int32_t kPad = 0;
  static constexpr std::int32_t kUnk = 1;

  // Counts on `threads` threads; the result does not depend on them.
  static Vocab build(const std::vector<std::vector<std::string>>& docs, std::int64_t min_freq,
                     std::int64_t max_vocab, int threads = 1);
  // The same from the tokens' counts in the training split.
  static Vocab from_counts(const std::unordered_map<std::string, std::int64_t>& counts,
                           std::int64_t min_freq, std::int64_t max_vocab);
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

// The token ids of one example: a view into an EncodedSplit.
struct TokenIds {
  const std::int32_t* data = nullptr;
  std::size_t size = 0;
  const std::int32_t* begin() const { return data; }
  const std::int32_t* end() const { return data + size; }
  bool empty() const { return size == 0; }
  std::int32_t operator[](std::size_t i) const { return data[i]; }
};

// The encoded examples of a split, flat: every token id in one array, an
// offset per example, a label per example. Either in memory (add()) or a view
// of arrays someone else owns (the memory-mapped token cache; `storage` keeps
// them alive, and copies share it).
class EncodedSplit {
 public:
  std::string name;  // train|val|test

  std::int64_t size() const { return mapped_ ? n_ : static_cast<std::int64_t>(own_labels_.size()); }
  TokenIds tokens(std::int64_t i) const {
    const std::int64_t* o = offsets();
    return {ids() + o[i], static_cast<std::size_t>(o[i + 1] - o[i])};
  }
  std::int64_t label(std::int64_t i) const { return labels()[i]; }
  std::int64_t total_tokens() const { return offsets()[size()]; }

  // Appends an example (an EncodedSplit built this way owns its arrays).
  void add(const std::vector<std::int32_t>& ids, std::int64_t label);
  // An EncodedSplit owning these arrays: offsets[n + 1], ids, labels[n].
  static EncodedSplit owned(std::string name, std::vector<std::int64_t> offsets,
                            std::vector<std::int32_t> ids, std::vector<std::int64_t> labels);
  // n examples in arrays owned by `storage`: offsets[n + 1], ids[offsets[n]],
  // labels[n].
  static EncodedSplit view(std::string name, std::int64_t n, const std::int64_t* offsets,
                           const std::int32_t* ids, const std::int64_t* labels,
                           std::shared_ptr<const void> storage);

  // The arrays themselves: offsets has size() + 1 entries.
  const std::int64_t* offsets() const { return mapped_ ? m_offsets_ : own_offsets_.data(); }
  const std::int32_t* ids() const { return mapped_ ? m_ids_ : own_ids_.data(); }
  const std::int64_t* labels() const { return mapped_ ? m_labels_ : own_labels_.data(); }

 private:
  bool mapped_ = false;
  std::vector<std::int64_t> own_offsets_{0};
  std::vector<std::int32_t> own_ids_;
  std::vector<std::int64_t> own_labels_;
  std::int64_t n_ = 0;
  const std::int64_t* m_offsets_ = nullptr;
  const std::int32_t* m_ids_ = nullptr;
  const std::int64_t* m_labels_ = nullptr;
  std::shared_ptr<const void> storage_;
};

struct PreparedData {
  Vocab vocab;
  std::string tokenizer_model;           // kind=sentencepiece: the serialized model used
  std::vector<std::string> label_names;  // sorted; index = class id
  EncodedSplit train, val, test;         // test may be empty
  nlohmann::json fingerprint;            // the content of data.json
  double seconds = 0;                    // load + tokenize + vocab time
};

// The version of the tokenizers' and encoders' code: part of every token
// cache key, so a change in how text becomes ids never reuses old entries.
constexpr const char* kTokenizerCodeVersion = "1";

// Reads, tokenizes and encodes every split of cfg.data. The vocabulary and
// label set come from the training split, unless `vocab`/`labels` are given
// (fine-tuning from an earlier run keeps its vocabulary). For
// kind=sentencepiece the model is tokenizer.sp_model, `sp_model` when given
// (fine-tuning), or trained on the training split and kept in the cache
// (runtime.cache_dir, default <output_dir>/.cache/tokenizers/), keyed by the
// training file's sha256 and the tokenizer settings: a second run with the
// same data and settings reuses it. data.json records which it was.
//
// The encoded splits, vocabulary and labels are kept in a token cache entry
// (runtime.token_cache, on by default; <cache_dir>/tokens/), keyed by the
// data files' sha256, the data and tokenizer settings and the tokenizer
// code version: a run with the same data and settings maps the entry
// instead of reading, tokenizing and counting again, with the same ids bit
// for bit. An entry is checked (header, sha256 of its payload, every offset,
// id and label in range) before use; a damaged or stale one is reported in
// one warning line and rebuilt. data.json's "token_cache" says whether it
// was hit. Fine-tuning (a given vocabulary, labels or model) bypasses it.
//
// Preparation is one streaming pass per file: blocks of whole records are
// read (and gunzipped and hashed) ahead while the previous block is parsed,
// tokenized and counted on runtime.num_workers threads; texts are dropped
// once encoded, so memory holds the token ids (4 bytes a token) and a few
// blocks of text, not the corpus. The vocabulary and every id depend only on
// the data and settings, never on the thread count or where blocks are cut.
PreparedData prepare_data(const Config& cfg, const Vocab* vocab = nullptr,
                          const std::vector<std::string>* labels = nullptr,
                          const std::string* sp_model = nullptr);

}  // namespace mltrain

#endif  // MLTRAIN_DATA_H_
