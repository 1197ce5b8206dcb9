#include "mltrain/canonical_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "mltrain/error.h"

namespace mltrain {
namespace {

// Cases whose expected strings were produced by Python's json.dumps
// (tests/data/make_golden.py).
TEST(CanonicalJson, MatchesPythonGoldenCases) {
  std::ifstream in(std::string(MLTRAIN_TEST_DATA) + "/canonical_json.jsonl");
  ASSERT_TRUE(in) << "missing golden file";
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto row = nlohmann::json::parse(line);
    std::string name = row["name"];
    nlohmann::json input;
    if (name == "specials") {
      input = {{"nan", std::numeric_limits<double>::quiet_NaN()},
               {"inf", std::numeric_limits<double>::infinity()},
               {"ninf", -std::numeric_limits<double>::infinity()}};
    } else {
      input = nlohmann::json::parse(row["input"].get<std::string>());
    }
    EXPECT_EQ(canonical_json(input), row["expected"].get<std::string>()) << name;
    ++n;
  }
  EXPECT_GE(n, 9);
}

TEST(CanonicalJson, FloatReprMatchesPython) {
  std::ifstream in(std::string(MLTRAIN_TEST_DATA) + "/float_repr.tsv");
  ASSERT_TRUE(in);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    std::uint64_t bits = std::stoull(line.substr(0, tab), nullptr, 16);
    double v;
    std::memcpy(&v, &bits, sizeof(v));
    EXPECT_EQ(python_float_repr(v), line.substr(tab + 1)) << line;
    ++n;
  }
  EXPECT_GT(n, 300);
}

TEST(CanonicalJson, DocumentedExamples) {
  EXPECT_EQ(python_float_repr(0.0005), "0.0005");
  EXPECT_EQ(python_float_repr(5e-05), "5e-05");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(2.0), "2.0");
  EXPECT_EQ(json_quote_ascii("\xc3\xa9"), "\"\\u00e9\"");
  EXPECT_EQ(json_quote_ascii("\xf0\x9d\x84\x9e"), "\"\\ud834\\udd1e\"");
}

TEST(CanonicalJson, RejectsInvalidUtf8) {
  EXPECT_THROW(canonical_json(nlohmann::json("\xff")), Error);
  EXPECT_THROW(canonical_json(nlohmann::json("\xc3")), Error);
  EXPECT_THROW(canonical_json(nlohmann::json("\xed\xa0\x80")), Error);  // surrogate
}

}  // namespace
}  // namespace mltrain
