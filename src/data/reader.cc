// Readers for JSONL, CSV and TSV text-classification files, plain or gzip.
#include <zlib.h>

#include <cstring>
#include <iostream>
#include <sstream>

#include "core/fs.h"
#include "core/hash.h"
#include "core/json_io.h"
#include "mltrain/data.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string resolve_format(const std::string& path, const std::string& format) {
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

void read_lines(const std::string& text, TextFile* out) {
  std::size_t pos = 0;
  std::int64_t line = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string::npos ? text.size() : nl;
    ++line;
    std::string row = text.substr(pos, end - pos);
    pos = end + 1;
    if (!row.empty() && row.back() == '\r') row.pop_back();
    if (row.find_first_not_of(" \t") == std::string::npos) continue;
    Example ex;
    ex.text = std::move(row);
    ex.line = line;
    out->rows.push_back(std::move(ex));
  }
}

void read_jsonl(const std::string& path, const std::string& text, const std::string& text_field,
                const std::string& label_field, const ReadOptions& opt, TextFile* out) {
  std::size_t pos = 0;
  std::int64_t line = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string::npos ? text.size() : nl;
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
    each_row(opt, out, [&] {
      const nlohmann::json j = parse_json(std::string(row), path, static_cast<std::size_t>(line));
      std::string where = path + ":" + std::to_string(line);
      if (!j.is_object()) fail_usage(where + ": expected a JSON object per line");
      auto t = j.find(text_field);
      if (t == j.end())
        fail_usage(where + ": missing field '" + text_field + "' (data.text_field)");
      if (!t->is_string()) fail_usage(where + ": field '" + text_field + "' must be a string");
      Example ex;
      auto l = j.find(label_field);
      if (l != j.end() || opt.require_label) {
        if (l == j.end()) {
          fail_usage(where + ": missing field '" + label_field + "' (data.label_field)");
        }
        ex.label = field_as_label(*l);
        if (ex.label.empty()) {
          fail_usage(where + ": field '" + label_field +
                     "' must be a non-empty string or an integer");
        }
      }
      auto id = j.find("id");
      if (id != j.end()) ex.id = field_as_id(*id);
      ex.text = t->get<std::string>();
      ex.line = line;
      if (was_repaired) ++out->repaired_utf8_rows;
      out->rows.push_back(std::move(ex));
    });
  }
}

// RFC 4180 records with `delim`; fields may be quoted ("" escapes a quote)
// and quoted fields may hold delimiters and newlines. CRLF or LF line ends.
void read_delimited(const std::string& path, const std::string& text, char delim,
                    const std::string& text_field, const std::string& label_field,
                    const ReadOptions& opt, TextFile* out) {
  std::size_t pos = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;  // UTF-8 BOM
  std::int64_t line = 1;
  const std::size_t n = text.size();

  // Parses one record into fields; returns false at end of input.
  auto next_record = [&](std::vector<std::string>* fields, std::int64_t* start_line) {
    fields->clear();
    if (pos >= n) return false;
    *start_line = line;
    std::string field;
    bool in_quotes = false;
    bool quoted = false;
    while (pos < n) {
      char c = text[pos];
      if (in_quotes) {
        if (c == '"') {
          if (pos + 1 < n && text[pos + 1] == '"') {
            field.push_back('"');
            pos += 2;
            continue;
          }
          in_quotes = false;
          ++pos;
          continue;
        }
        if (c == '\n') ++line;
        field.push_back(c);
        ++pos;
        continue;
      }
      if (c == '"' && field.empty() && !quoted) {
        in_quotes = true;
        quoted = true;
        ++pos;
        continue;
      }
      if (c == delim) {
        fields->push_back(std::move(field));
        field.clear();
        quoted = false;
        ++pos;
        continue;
      }
      if (c == '\r' && pos + 1 < n && text[pos + 1] == '\n') {
        ++pos;
        continue;
      }
      if (c == '\n') {
        ++pos;
        ++line;
        fields->push_back(std::move(field));
        return true;
      }
      if (quoted) {
        fail_usage(path + ":" + std::to_string(line) +
                   ": unexpected character after a closing quote (RFC 4180: a quote inside a "
                   "quoted field is written \"\")");
      }
      field.push_back(c);
      ++pos;
    }
    if (in_quotes) {
      fail_usage(path + ":" + std::to_string(*start_line) +
                 ": quoted field is not closed before the end of the file");
    }
    fields->push_back(std::move(field));
    return true;
  };

  std::vector<std::string> header, fields;
  std::int64_t rec_line = 0;
  if (!next_record(&header, &rec_line)) fail_usage(path + ": empty file, expected a header row");
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
  while (next_record(&fields, &rec_line)) {
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

}  // namespace

std::string read_maybe_gzip(const std::string& path, bool* was_gzip) {
  if (is_directory(path)) fail_usage(path + ": is a directory, expected a data file");
  if (!path_exists(path)) fail_usage(path + ": data file not found");
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) fail_usage(path + ": cannot open for reading");
  gzbuffer(f, 1 << 17);
  if (was_gzip != nullptr) *was_gzip = gzdirect(f) == 0;
  std::string out;
  std::vector<char> buf(1 << 20);
  while (true) {
    int got = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (got < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      fail_usage(path + ": corrupt gzip data: " + msg);
    }
    if (got == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(got));
  }
  int err = 0;
  gzerror(f, &err);
  gzclose(f);
  if (err == Z_BUF_ERROR) fail_usage(path + ": corrupt gzip data (truncated)");
  if (err != Z_OK) fail_usage(path + ": corrupt gzip data");
  return out;
}

TextFile read_examples(const std::string& path, const std::string& format,
                       const std::string& text_field, const std::string& label_field,
                       const ReadOptions& opt) {
  TextFile out;
  out.path = path;
  out.format = resolve_format(path, format);
  std::string text;
  if (path == "-") {
    std::ostringstream in;
    in << std::cin.rdbuf();
    text = in.str();
    out.sha256 = sha256_hex(text);
    out.bytes = text.size();
  } else {
    text = read_maybe_gzip(path, &out.gzip);
    out.sha256 = sha256_file(path, nullptr);
    out.bytes = file_size_or_zero(path);
  }
  if (out.format == "jsonl") {
    read_jsonl(path, text, text_field, label_field, opt, &out);
  } else if (out.format == "lines") {
    read_lines(text, &out);
  } else {
    read_delimited(path, text, out.format == "csv" ? ',' : '\t', text_field, label_field, opt,
                   &out);
  }
  for (auto& ex : out.rows) {
    if (sanitize_utf8(&ex.text)) ++out.repaired_utf8_rows;
    sanitize_utf8(&ex.label);
    sanitize_utf8(&ex.id);
  }
  if (out.rows.empty()) fail_usage(path + ": no rows");
  return out;
}

}  // namespace mltrain
