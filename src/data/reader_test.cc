#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>

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

}  // namespace
}  // namespace mltrain
