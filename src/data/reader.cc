// Readers for JSONL, CSV and TSV text-classification files, plain or gzip:
// the record stream (record_stream.h) and the parsers read_examples and
// prepare_data share.
#if MLTRAIN_HAVE_SIMDJSON
#include <simdjson.h>
#endif
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>

#include "core/fs.h"
#include "core/hash.h"
#include "data/record_stream.h"
#include "mltrain/data.h"
#include "mltrain/error.h"
#include "mltrain/files.h"

namespace mltrain {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string resolve_format_impl(const std::string& path, const std::string& format) {
  if (format != "auto") return format;
  if (path == "-") return "lines";
  std::string p = ends_with(path, ".gz") ? path.substr(0, path.size() - 3) : path;
  if (ends_with(p, ".jsonl") || ends_with(p, ".json") || ends_with(p, ".ndjson")) return "jsonl";
  if (ends_with(p, ".csv")) return "csv";
  if (ends_with(p, ".tsv") || ends_with(p, ".tab")) return "tsv";
  fail_usage(path +
             ": cannot tell the format from the name (expected .jsonl, .csv or .tsv, "
             "optionally .gz); set data.format");
}

std::string field_as_label(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() || v.is_boolean()) return v.dump();
  return "";
}

// Runs `row` (which reads one row into out->rows); with skip_bad a row's
// error is recorded in out->skipped instead of stopping the read.
template <typename F>
void each_row(const ReadOptions& opt, TextFile* out, F row) {
  if (!opt.skip_bad) {
    row();
    return;
  }
  try {
    row();
  } catch (const Error& e) {
    out->skipped.push_back(e.what());
  }
}

std::string field_as_id(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  return "";
}

void read_lines(std::string_view text, std::int64_t first_line, TextFile* out) {
  std::size_t pos = 0;
  std::int64_t line = first_line - 1;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    ++line;
    std::string row(text.substr(pos, end - pos));
    pos = end + 1;
    if (!row.empty() && row.back() == '\r') row.pop_back();
    if (row.find_first_not_of(" \t") == std::string::npos) continue;
    Example ex;
    ex.text = std::move(row);
    ex.line = line;
    out->rows.push_back(std::move(ex));
  }
}

#if MLTRAIN_HAVE_SIMDJSON
// simdjson's value as a label (string, integer or boolean) or an id (string
// or integer), as field_as_label / field_as_id make them from nlohmann's.
// False for any other type: the caller then takes nlohmann's view.
bool simd_scalar(simdjson::dom::element v, bool booleans, std::string* out) {
  switch (v.type()) {
    case simdjson::dom::element_type::STRING:
      out->assign(std::string_view(v));
      return true;
    case simdjson::dom::element_type::INT64:
      *out = std::to_string(int64_t(v));
      return true;
    case simdjson::dom::element_type::UINT64:
      *out = std::to_string(uint64_t(v));
      return true;
    case simdjson::dom::element_type::BOOL:
      if (!booleans) return false;
      *out = bool(v) ? "true" : "false";
      return true;
    default:
      return false;
  }
}
#endif  // MLTRAIN_HAVE_SIMDJSON

void read_jsonl(const std::string& path, std::string_view text, std::int64_t first_line,
                const std::string& text_field, const std::string& label_field,
                const ReadOptions& opt, TextFile* out) {
  std::size_t pos = 0;
  std::int64_t line = first_line - 1;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    ++line;
    std::string_view row(text.data() + pos, end - pos);
    pos = end + 1;
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    // Invalid UTF-8 (latin-1 mail) is repaired before parsing, not fatal.
    std::string repaired;
    const bool was_repaired = !is_valid_utf8(row);
    if (was_repaired) {
      repaired.assign(row.data(), row.size());
      sanitize_utf8(&repaired);
      row = repaired;
    }
    if (row.find_first_not_of(" \t") == std::string_view::npos) continue;
    {
      Example ex;
      if (parse_jsonl_row_fast(row, text_field, label_field, opt.require_label, &ex)) {
        ex.line = line;
        if (was_repaired) ++out->repaired_utf8_rows;
        out->rows.push_back(std::move(ex));
        continue;
      }
    }
    each_row(opt, out, [&] {
      Example ex;
      parse_jsonl_row(path, row, line, text_field, label_field, opt.require_label, &ex);
      ex.line = line;
      if (was_repaired) ++out->repaired_utf8_rows;
      out->rows.push_back(std::move(ex));
    });
  }
}

// RFC 4180 records with `delim`; fields may be quoted ("" escapes a quote)
// and quoted fields may hold delimiters and newlines. CRLF or LF line ends.
class DelimitedLexer {
 public:
  DelimitedLexer(const std::string& path, std::string_view text, std::size_t pos, char delim,
                 std::int64_t line)
      : path_(path), text_(text), pos_(pos), delim_(delim), line_(line) {}
  std::size_t pos() const { return pos_; }
  std::int64_t line() const { return line_; }

  // Parses one record into fields; returns false at end of input.
  bool next(std::vector<std::string>* fields, std::int64_t* start_line) {
    const std::size_t n = text_.size();
    fields->clear();
    if (pos_ >= n) return false;
    *start_line = line_;
    std::string field;
    bool in_quotes = false;
    bool quoted = false;
    while (pos_ < n) {
      char c = text_[pos_];
      if (in_quotes) {
        if (c == '"') {
          if (pos_ + 1 < n && text_[pos_ + 1] == '"') {
            field.push_back('"');
            pos_ += 2;
            continue;
          }
          in_quotes = false;
          ++pos_;
          continue;
        }
        if (c == '\n') ++line_;
        field.push_back(c);
        ++pos_;
        continue;
      }
      if (c == '"' && field.empty() && !quoted) {
        in_quotes = true;
        quoted = true;
        ++pos_;
        continue;
      }
      if (c == delim_) {
        fields->push_back(std::move(field));
        field.clear();
        quoted = false;
        ++pos_;
        continue;
      }
      if (c == '\r' && pos_ + 1 < n && text_[pos_ + 1] == '\n') {
        ++pos_;
        continue;
      }
      if (c == '\n') {
        ++pos_;
        ++line_;
        fields->push_back(std::move(field));
        return true;
      }
      if (quoted) {
        fail_usage(path_ + ":" + std::to_string(line_) +
                   ": unexpected character after a closing quote (RFC 4180: a quote inside a "
                   "quoted field is written \"\")");
      }
      field.push_back(c);
      ++pos_;
    }
    if (in_quotes) {
      fail_usage(path_ + ":" + std::to_string(*start_line) +
                 ": quoted field is not closed before the end of the file");
    }
    fields->push_back(std::move(field));
    return true;
  }

 private:
  const std::string& path_;
  std::string_view text_;
  std::size_t pos_;
  char delim_;
  std::int64_t line_;
};

// The records of text after the header (given), from line first_line.
void read_delimited(const std::string& path, std::string_view text, char delim,
                    const std::vector<std::string>& header, std::int64_t first_line,
                    const std::string& text_field, const std::string& label_field,
                    const ReadOptions& opt, TextFile* out) {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  auto col = [&](const std::string& name, const char* key, bool required) {
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return i;
    }
    if (required) fail_usage(path + ":1: header has no column '" + name + "' (" + key + ")");
    return kNone;
  };
  const std::size_t tc = col(text_field, "data.text_field", true);
  const std::size_t lc = col(label_field, "data.label_field", opt.require_label);
  const std::size_t ic = col("id", "", false);
  DelimitedLexer lex(path, text, 0, delim, first_line);
  std::vector<std::string> fields;
  std::int64_t rec_line = 0;
  while (lex.next(&fields, &rec_line)) {
    if (fields.size() == 1 && fields[0].empty()) continue;  // blank line
    each_row(opt, out, [&] {
      if (fields.size() != header.size()) {
        fail_usage(path + ":" + std::to_string(rec_line) + ": expected " +
                   std::to_string(header.size()) + " fields, found " +
                   std::to_string(fields.size()));
      }
      Example ex;
      if (lc != kNone) {
        if (fields[lc].empty()) {
          fail_usage(path + ":" + std::to_string(rec_line) + ": empty label in column '" +
                     label_field + "'");
        }
        ex.label = fields[lc];  // copied: text and label may be the same column
      }
      if (ic != kNone) ex.id = fields[ic];
      ex.text = fields[tc];
      ex.line = rec_line;
      out->rows.push_back(std::move(ex));
    });
  }
}

// Makes a block's rows valid UTF-8 (counting repaired texts).
void finish_rows(std::size_t from, TextFile* out) {
  for (std::size_t i = from; i < out->rows.size(); ++i) {
    Example& ex = out->rows[i];
    if (sanitize_utf8(&ex.text)) ++out->repaired_utf8_rows;
    sanitize_utf8(&ex.label);
    sanitize_utf8(&ex.id);
  }
}

[[noreturn]] void fail_gzip(const std::string& path, const std::string& what) {
  fail_usage(path + ": corrupt gzip data" + what);
}

}  // namespace

void parse_jsonl_row(const std::string& path, std::string_view row, std::int64_t line,
                     const std::string& text_field, const std::string& label_field,
                     bool require_label, Example* ex) {
  const nlohmann::json j = parse_json(std::string(row), path, static_cast<std::size_t>(line));
  std::string where = path + ":" + std::to_string(line);
  if (!j.is_object()) fail_usage(where + ": expected a JSON object per line");
  auto t = j.find(text_field);
  if (t == j.end()) fail_usage(where + ": missing field '" + text_field + "' (data.text_field)");
  if (!t->is_string()) fail_usage(where + ": field '" + text_field + "' must be a string");
  auto l = j.find(label_field);
  if (l != j.end() || require_label) {
    if (l == j.end()) {
      fail_usage(where + ": missing field '" + label_field + "' (data.label_field)");
    }
    ex->label = field_as_label(*l);
    if (ex->label.empty()) {
      fail_usage(where + ": field '" + label_field + "' must be a non-empty string or an integer");
    }
  }
  auto id = j.find("id");
  if (id != j.end()) ex->id = field_as_id(*id);
  ex->text = t->get<std::string>();
}

// The fast path of one JSONL row: simdjson's DOM parser (it validates the
// whole line). Returns false whenever the row is not a plain good row (not
// JSON, not an object, a field missing or of another type, a repeated key
// resolved differently, anything unusual): the caller then parses it with
// nlohmann, the reference whose results and error messages the readers
// define. On true, `ex` holds what the reference would give.
#if MLTRAIN_HAVE_SIMDJSON
bool parse_jsonl_row_fast(std::string_view row, const std::string& text_field,
                          const std::string& label_field, bool require_label, Example* ex) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(row.data(), row.size(), /*realloc_if_needed=*/true).get(doc) !=
      simdjson::SUCCESS) {
    return false;
  }
  simdjson::dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS) return false;
  // nlohmann keeps the last of repeated keys.
  simdjson::dom::element text, label, id;
  bool has_text = false, has_label = false, has_id = false;
  for (const auto field : obj) {
    if (field.key == text_field) {
      text = field.value;
      has_text = true;
    }
    if (field.key == label_field) {
      label = field.value;
      has_label = true;
    }
    if (field.key == "id") {
      id = field.value;
      has_id = true;
    }
  }
  if (!has_text || !text.is_string()) return false;
  if (has_label) {
    if (!simd_scalar(label, true, &ex->label) || ex->label.empty()) return false;
  } else if (require_label) {
    return false;
  }
  if (has_id && !simd_scalar(id, false, &ex->id)) {
    if (id.is_number()) return false;  // -0, 1e2: let the reference decide
    ex->id.clear();
  }
  ex->text.assign(std::string_view(text));
  // The row is valid UTF-8; only a \u escape (a lone surrogate) could make
  // a field invalid, which the reference rejects.
  if (row.find("\\u") == std::string_view::npos) return true;
  return is_valid_utf8(ex->text) && is_valid_utf8(ex->label) && is_valid_utf8(ex->id);
}

bool jsonl_fast_path_built() { return true; }
#else
// Built without simdjson: every row goes to the reference.
bool parse_jsonl_row_fast(std::string_view, const std::string&, const std::string&, bool,
                          Example*) {
  return false;
}

bool jsonl_fast_path_built() { return false; }
#endif  // MLTRAIN_HAVE_SIMDJSON

std::string resolve_format(const std::string& path, const std::string& format) {
  return resolve_format_impl(path, format);
}

char format_delim(const std::string& format) {
  return format == "csv" ? ',' : format == "tsv" ? '\t' : '\0';
}

// ---- record boundaries ------------------------------------------------------

std::size_t last_record_end(std::string_view text, char delim, std::vector<std::size_t>* ends) {
  const std::size_t n = text.size();
  std::size_t last = 0;
  if (delim == '\0') {  // JSONL: a JSON text holds no raw newline
    if (ends == nullptr) {
      const std::size_t nl = text.rfind('\n');
      return nl == std::string_view::npos ? 0 : nl + 1;
    }
    for (std::size_t p = text.find('\n'); p != std::string_view::npos; p = text.find('\n', p + 1)) {
      ends->push_back(p + 1);
      last = p + 1;
    }
    return last;
  }
  // The lexical states of DelimitedLexer, without building fields.
  bool in_quotes = false, quoted = false, empty = true;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 == n) break;  // "" or a closing quote: the next byte decides
        if (text[i + 1] == '"') {
          ++i;
        } else {
          in_quotes = false;
        }
      }
      empty = false;
      continue;
    }
    if (c == '"' && empty && !quoted) {
      in_quotes = quoted = true;
    } else if (c == delim) {
      empty = true;
      quoted = false;
    } else if (c == '\n') {
      empty = true;
      quoted = false;
      last = i + 1;
      if (ends != nullptr) ends->push_back(last);
    } else if (!(c == '\r' && i + 1 < n && text[i + 1] == '\n')) {
      empty = false;
    }
  }
  return last;
}

std::vector<std::size_t> split_records(std::string_view text, char delim, int parts) {
  std::vector<std::size_t> starts = {0};
  if (parts <= 1 || text.empty()) return starts;
  std::vector<std::size_t> ends;
  last_record_end(text, delim, &ends);
  std::size_t k = 0;
  for (int p = 1; p < parts; ++p) {
    const std::size_t target = text.size() * static_cast<std::size_t>(p) / parts;
    while (k < ends.size() && ends[k] < target) ++k;
    if (k == ends.size() || ends[k] >= text.size()) break;
    if (ends[k] > starts.back()) starts.push_back(ends[k]);
  }
  return starts;
}

// ---- the stream -------------------------------------------------------------

struct RecordStream::Inflate {
  static constexpr std::size_t kOut = std::size_t{4} << 20;
  std::unique_ptr<char[]> out;  // inflate's output, appended to pending_
  z_stream z{};
  bool open = false;
  bool member_done = false;  // the last member ended (more may follow)
  bool finished = false;     // trailing bytes that are not a gzip member: ignored
  ~Inflate() {
    if (open) inflateEnd(&z);
  }
};

RecordStream::RecordStream(const std::string& path, const std::string& format,
                           std::size_t block_bytes)
    : path_(path), delim_(format_delim(format)), block_bytes_(block_bytes) {
  if (is_directory(path)) fail_usage(path + ": is a directory, expected a data file");
  if (!path_exists(path)) fail_usage(path + ": data file not found");
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) fail_usage(path + ": cannot open for reading");
}

RecordStream::~RecordStream() {
  if (file_ != nullptr) std::fclose(file_);
}

bool RecordStream::fill() {
  if (eof_) return false;
  if (!raw_) raw_ = std::make_unique<char[]>(kReadChunk);
  char* raw = raw_.get();
  const std::size_t got = std::fread(raw, 1, kReadChunk, file_);
  if (got < kReadChunk && std::ferror(file_)) {
    fail_usage(path_ + ": read error: " + std::strerror(errno));
  }
  hash_.update(raw, got);
  raw_bytes_ += got;
  if (!started_) {
    started_ = true;
    gzip_ = got >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f &&
            static_cast<unsigned char>(raw[1]) == 0x8b;
    if (gzip_) {
      z_ = std::make_unique<Inflate>();
      if (inflateInit2(&z_->z, 15 + 16) != Z_OK) fail_gzip(path_, "");
      z_->open = true;
    }
  }
  if (got == 0) {
    eof_ = true;
    if (gzip_ && !z_->member_done && !z_->finished) fail_gzip(path_, " (truncated)");
    sha256_ = hash_.hex_digest();
    return false;
  }
  if (!gzip_) {
    pending_.append(raw, got);
    return true;
  }
  Inflate& f = *z_;
  if (f.finished) return true;
  f.z.next_in = reinterpret_cast<Bytef*>(raw);
  f.z.avail_in = static_cast<uInt>(got);
  if (!f.out) f.out = std::make_unique<char[]>(Inflate::kOut);
  char* out = f.out.get();
  while (f.z.avail_in > 0) {
    if (f.member_done) {
      // Another member follows, or trailing bytes that gzread ignores too.
      if (f.z.avail_in >= 2 && f.z.next_in[0] == 0x1f && f.z.next_in[1] == 0x8b) {
        inflateReset(&f.z);
        f.member_done = false;
      } else {
        f.finished = true;
        break;
      }
    }
    f.z.next_out = reinterpret_cast<Bytef*>(out);
    f.z.avail_out = static_cast<uInt>(Inflate::kOut);
    const int rc = inflate(&f.z, Z_NO_FLUSH);
    pending_.append(out, Inflate::kOut - f.z.avail_out);
    if (rc == Z_STREAM_END) {
      f.member_done = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      fail_gzip(path_, std::string(": ") + (f.z.msg != nullptr ? f.z.msg : zError(rc)));
    }
  }
  return true;
}

bool RecordStream::next(RecordBlock* block) {
  std::size_t end = 0;
  while (true) {
    if (pending_.size() >= block_bytes_) {
      end = last_record_end(pending_, delim_, nullptr);
      if (end > 0) break;
    }
    if (!fill()) {
      end = pending_.size();  // the last record may lack its newline
      break;
    }
  }
  if (end == 0) return false;
  block->first = first_;
  first_ = false;
  block->first_line = next_line_;
  block->text.assign(pending_, 0, end);
  pending_.erase(0, end);
  next_line_ += static_cast<std::int64_t>(std::count(block->text.begin(), block->text.end(), '\n'));
  return true;
}

// ---- parsing ----------------------------------------------------------------

void fail_no_rows(const std::string& path, char delim, const std::vector<std::string>& header) {
  if (delim != '\0' && header.empty()) fail_usage(path + ": empty file, expected a header row");
  fail_usage(path + ": no rows");
}

std::size_t parse_header(const std::string& path, char delim, std::string_view text,
                         std::vector<std::string>* header, std::int64_t* next_line) {
  const std::size_t start = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;  // UTF-8 BOM
  DelimitedLexer lex(path, text, start, delim, 1);
  std::int64_t line = 0;
  if (!lex.next(header, &line)) fail_usage(path + ": empty file, expected a header row");
  *next_line = lex.line();
  return lex.pos();
}

void parse_records(const std::string& path, const std::string& format, std::string_view text,
                   std::int64_t first_line, const std::string& text_field,
                   const std::string& label_field, const ReadOptions& opt,
                   std::vector<std::string>* header, TextFile* out) {
  const std::size_t from = out->rows.size();
  if (format == "jsonl") {
    // Rows are made valid UTF-8 before parsing, and JSON's escapes cannot
    // make them invalid (a lone surrogate is a parse error).
    read_jsonl(path, text, first_line, text_field, label_field, opt, out);
    return;
  } else if (format == "lines") {
    read_lines(text, first_line, out);
  } else {
    const char delim = format_delim(format);
    if (header->empty()) {
      const std::size_t body = parse_header(path, delim, text, header, &first_line);
      text.remove_prefix(body);
    }
    read_delimited(path, text, delim, *header, first_line, text_field, label_field, opt, out);
  }
  finish_rows(from, out);
}

std::string read_maybe_gzip(const std::string& path, bool* was_gzip) {
  RecordStream in(path, "jsonl");
  std::string out;
  RecordBlock b;
  while (in.next(&b)) out += b.text;
  if (was_gzip != nullptr) *was_gzip = in.gzip();
  return out;
}

TextFile read_examples(const std::string& path, const std::string& format,
                       const std::string& text_field, const std::string& label_field,
                       const ReadOptions& opt) {
  TextFile out;
  out.path = path;
  out.format = resolve_format(path, format);
  std::vector<std::string> header;
  if (path == "-") {
    std::ostringstream in;
    in << std::cin.rdbuf();
    const std::string text = in.str();
    out.sha256 = sha256_hex(text);
    out.bytes = text.size();
    parse_records(path, out.format, text, 1, text_field, label_field, opt, &header, &out);
  } else {
    RecordStream in(path, out.format);
    RecordBlock b;
    while (in.next(&b)) {
      parse_records(path, out.format, b.text, b.first_line, text_field, label_field, opt, &header,
                    &out);
    }
    out.gzip = in.gzip();
    out.sha256 = in.sha256();
    out.bytes = in.bytes();
  }
  if (out.rows.empty()) fail_no_rows(path, format_delim(out.format), header);
  return out;
}

}  // namespace mltrain
