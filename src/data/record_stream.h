// Internal: reading a data file once, front to back, in blocks of whole
// records, so that memory holds one block of text at a time (prepare_data)
// and a block can be cut into pieces parsed on several threads.
//
// A RecordStream reads the file's bytes in chunks, hashes them (sha256 of
// the file as stored), gunzips them when the file is gzip (detected from the
// content; concatenated members are read as one stream, as zlib's gzread
// does) and hands out blocks that end at a record boundary: a newline for
// JSONL, a newline outside a quoted field for CSV/TSV (the same lexical rules
// as the parser). A record longer than the block size makes a longer block.
#ifndef MLTRAIN_SRC_DATA_RECORD_STREAM_H_
#define MLTRAIN_SRC_DATA_RECORD_STREAM_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "mltrain/data.h"

namespace mltrain {

struct RecordBlock {
  std::string text;             // whole records
  std::int64_t first_line = 1;  // the line number of text's first byte
  bool first = false;           // the file's first block (a CSV header, a BOM)
};

class RecordStream {
 public:
  // format: jsonl|csv|tsv (resolved). Throws Error naming path when the file
  // is missing, a directory or unreadable.
  RecordStream(const std::string& path, const std::string& format,
               std::size_t block_bytes = std::size_t{8} << 20);  // see kPrepareBlockBytes
  ~RecordStream();
  RecordStream(const RecordStream&) = delete;
  RecordStream& operator=(const RecordStream&) = delete;

  // The next block, or false at the end of the file. Throws Error naming the
  // path on corrupt or truncated gzip data and read errors.
  bool next(RecordBlock* block);

  bool gzip() const { return gzip_; }
  std::uint64_t bytes() const { return raw_bytes_; }  // read so far
  // The sha256 of the file's bytes; valid once next() returned false.
  const std::string& sha256() const { return sha256_; }

 private:
  bool fill();  // appends decoded bytes to pending_; false at the end

  std::string path_;
  char delim_;  // 0 for JSONL
  std::size_t block_bytes_;
  std::FILE* file_ = nullptr;
  Sha256 hash_;
  std::string sha256_;
  struct Inflate;
  std::unique_ptr<Inflate> z_;
  bool gzip_ = false;
  bool started_ = false;
  bool eof_ = false;
  bool first_ = true;
  std::uint64_t raw_bytes_ = 0;
  std::int64_t next_line_ = 1;
  std::string pending_;  // decoded bytes not handed out yet
  static constexpr std::size_t kReadChunk = std::size_t{1} << 20;
  std::unique_ptr<char[]> raw_;  // the file's bytes, a chunk at a time
};

// The offset just past the last record that ends in text[0, n) at a newline
// (0 when none does). text must start at a record boundary; delim is 0 for
// JSONL, ',' or '\t' for CSV/TSV. `ends` gets every boundary when not null.
std::size_t last_record_end(std::string_view text, char delim, std::vector<std::size_t>* ends);

// Cuts a block into up to `parts` contiguous pieces at record boundaries
// (piece p starts at result[p], the last ends at text.size()).
std::vector<std::size_t> split_records(std::string_view text, char delim, int parts);

// The delimiter of a resolved format: 0 (jsonl), ',' (csv), '\t' (tsv).
char format_delim(const std::string& format);

// The format of `path` given data.format (auto goes by the name).
std::string resolve_format(const std::string& path, const std::string& format);

// Parses the rows of `text` (whole records, first line `first_line`) into
// out->rows as read_examples does, with texts, labels and ids made valid
// UTF-8. For CSV/TSV the header is read from the block when *header is empty
// (the file's first block) and is given for later blocks.
void parse_records(const std::string& path, const std::string& format, std::string_view text,
                   std::int64_t first_line, const std::string& text_field,
                   const std::string& label_field, const ReadOptions& opt,
                   std::vector<std::string>* header, TextFile* out);

// One JSONL row (valid UTF-8) into ex's text, label and id: the reference
// (nlohmann's parser). Throws Error naming path:line when the row is bad.
void parse_jsonl_row(const std::string& path, std::string_view row, std::int64_t line,
                     const std::string& text_field, const std::string& label_field,
                     bool require_label, Example* ex);
// The fast path (simdjson): true and the reference's result for a good row;
// false for anything else (a bad row, or one it leaves to the reference). In
// a build without simdjson (MLTRAIN_SIMDJSON=OFF, or not found) it is always
// false, so every row is parsed by the reference: the same rows, slower.
bool parse_jsonl_row_fast(std::string_view row, const std::string& text_field,
                          const std::string& label_field, bool require_label, Example* ex);
// Whether this build has the fast path (was built with simdjson).
bool jsonl_fast_path_built();

// The error for a file that gave no rows: an empty CSV/TSV has no header
// (delim as format_delim gives it).
[[noreturn]] void fail_no_rows(const std::string& path, char delim,
                               const std::vector<std::string>& header);

// For CSV/TSV: reads the header record at the start of the file's first
// block (after a UTF-8 BOM) into *header; returns the offset after it and
// sets *next_line. Throws Error naming the path on an empty file.
std::size_t parse_header(const std::string& path, char delim, std::string_view text,
                         std::vector<std::string>* header, std::int64_t* next_line);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_DATA_RECORD_STREAM_H_
