#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <tuple>

#include "data/record_stream.h"
#include "mltrain/data.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

std::string write_temp(const std::string& name, const std::string& bytes, bool gz = false) {
  char tmpl[] = "/tmp/mltrain_rd_XXXXXX";
  std::string path = std::string(::mkdtemp(tmpl)) + "/" + name;
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  return path;
}

std::string error_of(const std::string& path, const std::string& fmt = "auto") {
  try {
    read_examples(path, fmt, "text", "label");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    return e.what();
  }
  return "";
}

TEST(Reader, JsonlPlainAndGzipGiveSameRows) {
  std::string rows = "{\"text\":\"Hello\",\"label\":\"ham\"}\n{\"text\":\"Buy\",\"label\":1}\n";
  auto a = read_examples(write_temp("a.jsonl", rows), "auto", "text", "label");
  auto b = read_examples(write_temp("a.jsonl.gz", rows, true), "auto", "text", "label");
  ASSERT_EQ(a.rows.size(), 2u);
  EXPECT_TRUE(b.gzip);
  EXPECT_FALSE(a.gzip);
  EXPECT_EQ(b.rows[1].text, "Buy");
  EXPECT_EQ(b.rows[1].label, "1");
  EXPECT_EQ(a.rows[1].line, 2);
}

TEST(Reader, CsvRfc4180) {
  std::string csv =
      "\xEF\xBB\xBFid,text,label\r\n"
      "1,\"hello, world\",ham\r\n"
      "2,\"multi\r\nline \"\"quoted\"\"\",spam\r\n"
      "3,plain,ham\r\n";
  auto f = read_examples(write_temp("a.csv", csv), "auto", "text", "label");
  ASSERT_EQ(f.rows.size(), 3u);
  EXPECT_EQ(f.rows[0].text, "hello, world");
  EXPECT_EQ(f.rows[1].text, "multi\r\nline \"quoted\"");
  EXPECT_EQ(f.rows[2].line, 5);  // the record after a two-line field
}

TEST(Reader, Tsv) {
  auto f =
      read_examples(write_temp("a.tsv", "text\tlabel\nhi there\tham\n"), "auto", "text", "label");
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rows[0].text, "hi there");
}

TEST(Reader, ShippedCsvSampleMatchesJsonl) {
  std::string base = std::string(MLTRAIN_SOURCE_DIR) + "/data/sample/";
  auto csv = read_examples(base + "train.csv", "auto", "text", "label");
  auto jsonl = read_examples(base + "train.jsonl", "auto", "text", "label");
  ASSERT_EQ(csv.rows.size(), jsonl.rows.size());
  for (std::size_t i = 0; i < csv.rows.size(); ++i) {
    ASSERT_EQ(csv.rows[i].text, jsonl.rows[i].text) << i;
    ASSERT_EQ(csv.rows[i].label, jsonl.rows[i].label) << i;
  }
}

TEST(Reader, InvalidUtf8IsReplacedNotFatal) {
  std::string rows = "{\"text\":\"caf\xe9\",\"label\":\"ham\"}\n";
  auto f = read_examples(write_temp("l1.jsonl", rows), "auto", "text", "label");
  EXPECT_EQ(f.rows[0].text, "caf\xEF\xBF\xBD");
  EXPECT_EQ(f.repaired_utf8_rows, 1);
}

TEST(Reader, ErrorsNameFileAndLine) {
  std::string p = write_temp("bad.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\": oops}\n");
  EXPECT_NE(error_of(p).find(p + ":2:10: invalid JSON: syntax error"), std::string::npos)
      << error_of(p);
  p = write_temp("nolabel.jsonl", "{\"text\":\"a\"}\n");
  EXPECT_NE(error_of(p).find(p + ":1: missing field 'label'"), std::string::npos);
  p = write_temp("fields.csv", "text,label\na,b,c\n");
  EXPECT_NE(error_of(p).find(p + ":2: expected 2 fields, found 3"), std::string::npos);
  p = write_temp("open.csv", "text,label\n\"never closed,ham\n");
  EXPECT_NE(error_of(p).find(p + ":2: quoted field is not closed"), std::string::npos);
  p = write_temp("nocol.csv", "body,label\na,b\n");
  EXPECT_NE(error_of(p).find("no column 'text'"), std::string::npos);
  p = write_temp("x.txt", "hello");
  EXPECT_NE(error_of(p).find("cannot tell the format"), std::string::npos);
  EXPECT_NE(error_of("/nonexistent.jsonl").find("not found"), std::string::npos);
  p = write_temp("trunc.jsonl.gz", std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x4b", 11));
  EXPECT_NE(error_of(p).find("corrupt gzip"), std::string::npos) << error_of(p);
}

TEST(Reader, SanitizeUtf8) {
  std::string s = "ok \xe2\x82\xac \xc0\xaf end";  // euro sign, then an overlong '/'
  EXPECT_TRUE(sanitize_utf8(&s));
  EXPECT_EQ(s, "ok \xe2\x82\xac \xEF\xBF\xBD\xEF\xBF\xBD end");
  std::string t = "plain";
  EXPECT_FALSE(sanitize_utf8(&t));
}

// Rows as comparable tuples.
std::vector<std::tuple<std::string, std::string, std::string, std::int64_t>> rows_of(
    const TextFile& f) {
  std::vector<std::tuple<std::string, std::string, std::string, std::int64_t>> out;
  for (const auto& ex : f.rows) out.emplace_back(ex.text, ex.label, ex.id, ex.line);
  return out;
}

// Every block a RecordStream hands out ends at a record boundary, whatever
// the block size: parsed block by block, the rows (and their line numbers)
// are those of the whole file.
TEST(RecordStream, BlocksEndAtRecordBoundariesForAnyBlockSize) {
  const std::string csv =
      "text,label,id\r\n"
      "\"multi\nline, with \"\"quotes\"\"\",spam,1\r\n"
      "plain text,ham,2\n"
      "\"\"\"\",ham,3\n"
      "\n"
      "\"a\r\nb\",spam,\"4\"\n"
      "5\" screen,ham,5\n"
      "last \"\"\"\" row,spam,6";
  const std::string jsonl =
      "{\"text\":\"one\",\"label\":\"a\"}\n\n{\"text\":\"t\\nwo\",\"label\":\"b\",\"id\":7}\r\n"
      "{\"text\":\"three\",\"label\":\"a\"}";
  for (const auto& [name, bytes] :
       {std::pair<std::string, std::string>{"f.csv", csv}, {"f.tsv", csv}, {"f.jsonl", jsonl}}) {
    std::string data = bytes;
    if (name == "f.tsv") {
      for (char& c : data) c = c == ',' ? '\t' : c;
    }
    for (bool gz : {false, true}) {
      const std::string path = write_temp(name + (gz ? ".gz" : ""), data, gz);
      const TextFile whole = read_examples(path, "auto", "text", "label");
      ASSERT_EQ(whole.rows.size(), name == "f.jsonl" ? 3u : 6u);
      for (std::size_t block : {1, 2, 3, 5, 8, 13, 64, 1 << 20}) {
        const std::string format = resolve_format(path, "auto");
        RecordStream in(path, format, block);
        RecordBlock b;
        std::string joined;
        TextFile parts;
        std::vector<std::string> header;
        while (in.next(&b)) {
          joined += b.text;
          if (!b.text.empty() && joined.size() < data.size()) {
            // Not the last block: it ends where a record ends.
            EXPECT_EQ(last_record_end(b.text, format_delim(format), nullptr), b.text.size())
                << name << " block " << block;
          }
          parse_records(path, format, b.text, b.first_line, "text", "label", {}, &header, &parts);
        }
        EXPECT_EQ(joined, data) << name << " block " << block;
        EXPECT_EQ(rows_of(parts), rows_of(whole)) << name << " block " << block;
        EXPECT_EQ(in.sha256(), whole.sha256);
        EXPECT_EQ(in.gzip(), gz);
      }
    }
  }
}

TEST(RecordStream, SplitRecordsCutsAtBoundaries) {
  const std::string text = "a,\"x\ny\"\nb,c\n\"d\"\"\n\",e\nf,g\n";
  for (int parts = 1; parts <= 6; ++parts) {
    const auto starts = split_records(text, ',', parts);
    ASSERT_FALSE(starts.empty());
    EXPECT_EQ(starts[0], 0u);
    EXPECT_LE(starts.size(), static_cast<std::size_t>(parts));
    std::vector<std::size_t> ends;
    last_record_end(text, ',', &ends);
    for (std::size_t k = 1; k < starts.size(); ++k) {
      EXPECT_GT(starts[k], starts[k - 1]);
      EXPECT_NE(std::find(ends.begin(), ends.end(), starts[k]), ends.end()) << starts[k];
    }
  }
  EXPECT_EQ(last_record_end("\"open\nquote", ',', nullptr), 0u);
  EXPECT_EQ(last_record_end("a\n\"b\"\"", ',', nullptr), 2u);  // "" or a closing quote: unknown
}

// gzip members written one after another read as one stream (as gzread
// does); bytes after the last member that are not one are ignored.
TEST(RecordStream, ConcatenatedGzipMembers) {
  const std::string a = "{\"text\":\"one\",\"label\":\"x\"}\n",
                    b = "{\"text\":\"two\",\"label\":\"y\"}\n";
  const std::string pa = write_temp("a.jsonl.gz", a, true), pb = write_temp("b.jsonl.gz", b, true);
  std::ifstream fa(pa, std::ios::binary), fb(pb, std::ios::binary);
  std::string both((std::istreambuf_iterator<char>(fa)), std::istreambuf_iterator<char>());
  both.append((std::istreambuf_iterator<char>(fb)), std::istreambuf_iterator<char>());
  const TextFile f = read_examples(write_temp("ab.jsonl", both), "auto", "text", "label");
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_EQ(f.rows[1].text, "two");
  EXPECT_EQ(f.rows[1].line, 2);
  const TextFile g =
      read_examples(write_temp("ag.jsonl", both + "garbage"), "auto", "text", "label");
  EXPECT_EQ(rows_of(g), rows_of(f));
}

// JSONL rows of every kind: plain good rows, rows the fast path leaves to the
// reference (numbers it does not own, repeated keys, escapes) and bad rows.
const std::vector<std::string>& jsonl_rows() {
  static const std::vector<std::string> rows = {
      R"({"text":"hello","label":"ham"})",
      R"({"label":"spam","text":"x","id":"a1"})",
      R"({"text":"x","label":3,"id":12})",
      R"({"text":"x","label":true,"id":true})",
      R"({"text":"x","label":false,"id":null})",
      R"({"text":"x","label":1.5})",
      R"({"text":"x","label":-0})",
      R"({"text":"x","label":"y","id":-0})",
      R"({"text":"x","label":"y","id":1e2})",
      R"({"text":"x","label":18446744073709551615,"id":-9223372036854775808})",
      R"({"text":"x","label":184467440737095516150})",
      R"({"text":"a","text":"b","label":"l","label":"m"})",
      R"({"text":"caf\u00e9 \ud83d\ude00","label":"\u0041"})",
      R"({"text":"lone \ud800","label":"a"})",
      R"({"text":"nul\u0000byte","label":"a"})",
      "{\"text\":\"raw\ttab\",\"label\":\"a\"}",
      R"({"text":"x","label":""})",
      R"({"text":"x"})",
      R"({"text":5,"label":"a"})",
      R"({"text":"x","label":["a"]})",
      R"({"text":"x","label":{"a":1}})",
      R"(["text","label"])",
      R"({"text":"x","label":"a"} trailing)",
      R"({"text":"x","label":"a",})",
      R"({"text":"x","label":"a","deep":[[[[[[[[[[1]]]]]]]]]]})",
      R"(  {"text":"x","label":"a"}  )",
      R"("just a string")",
  };
  return rows;
}

// The simdjson fast path gives the reference's (nlohmann's) result for every
// row it accepts, and leaves every other row to the reference. A build
// without simdjson has no fast path: it accepts nothing.
TEST(JsonlRow, FastPathAgreesWithTheReference) {
  const std::vector<std::string>& rows = jsonl_rows();
  int fast = 0;
  for (bool require_label : {true, false}) {
    for (const auto& row : rows) {
      Example f, r;
      const bool ok = parse_jsonl_row_fast(row, "text", "label", require_label, &f);
      bool ref_ok = true;
      try {
        parse_jsonl_row("p.jsonl", row, 1, "text", "label", require_label, &r);
      } catch (const Error&) {
        ref_ok = false;
      }
      if (ok) {
        ++fast;
        ASSERT_TRUE(ref_ok) << row;
        EXPECT_EQ(f.text, r.text) << row;
        EXPECT_EQ(f.label, r.label) << row;
        EXPECT_EQ(f.id, r.id) << row;
      }
    }
  }
  if (jsonl_fast_path_built()) {
    EXPECT_GE(fast, 16);  // the plain rows do take the fast path
  } else {
    EXPECT_EQ(fast, 0);
  }
}

// Whichever path this build parses JSONL rows with, a file's rows are the
// reference's row by row: the same texts, labels, ids and lines, and the
// same errors for the rows it skips.
TEST(JsonlRow, FileRowsAreTheReferencesOnEitherPath) {
  std::string file;
  for (const auto& row : jsonl_rows()) file += row + "\n";
  for (bool require_label : {true, false}) {
    ReadOptions opt;
    opt.require_label = require_label;
    opt.skip_bad = true;
    const std::string path = write_temp("rows.jsonl", file);
    const TextFile f = read_examples(path, "jsonl", "text", "label", opt);
    std::vector<std::tuple<std::string, std::string, std::string, std::int64_t>> want, got;
    std::vector<std::string> want_skipped;
    std::int64_t line = 0;
    for (const auto& row : jsonl_rows()) {
      ++line;
      if (row.find_first_not_of(" \t") == std::string::npos) continue;
      try {
        Example r;
        parse_jsonl_row(path, row, line, "text", "label", require_label, &r);
        want.emplace_back(r.text, r.label, r.id, line);
      } catch (const Error& e) {
        want_skipped.push_back(e.what());
      }
    }
    for (const auto& ex : f.rows) got.emplace_back(ex.text, ex.label, ex.id, ex.line);
    EXPECT_EQ(got, want) << "require_label " << require_label;
    EXPECT_EQ(f.skipped, want_skipped);
    EXPECT_GE(want.size(), 14u);  // good rows and bad ones both
    EXPECT_GE(want_skipped.size(), 10u);
  }
}

}  // namespace
}  // namespace mltrain
