#include <gtest/gtest.h>

#include "mltrain/data.h"

namespace mltrain {
namespace {

std::vector<std::string> tok(const std::string& text, TokenizerConfig cfg = {}) {
  Tokenizer t(cfg);
  std::vector<std::string> out;
  t.tokenize(text, &out);
  return out;
}

TEST(Tokenizer, WordSplitsPunctuationAndLowercases) {
  EXPECT_EQ(tok("Hello, World! It's <b>FREE</b>: 100%"),
            (std::vector<std::string>{"hello", ",", "world", "!", "it", "'", "s", "b", "free", "b",
                                      "100"}));
  TokenizerConfig keep;
  keep.lowercase = false;
  EXPECT_EQ(tok("Hi there", keep), (std::vector<std::string>{"Hi", "there"}));
}

TEST(Tokenizer, MaxLenAndNgrams) {
  TokenizerConfig c;
  c.max_len = 3;
  c.ngrams = 2;
  EXPECT_EQ(tok("a b c d", c), (std::vector<std::string>{"a", "b", "c", "a b", "b c"}));
}

TEST(Tokenizer, CharKind) {
  TokenizerConfig c;
  c.kind = "char";
  EXPECT_EQ(tok("Ab  \xc3\xa9!", c), (std::vector<std::string>{"a", "b", " ", "\xc3\xa9", "!"}));
}

TEST(Vocab, OrderedByFrequencyThenToken) {
  std::vector<std::vector<std::string>> docs = {{"b", "a", "c", "c"}, {"a", "b", "d"}, {"c"}};
  Vocab v = Vocab::build(docs, 1, 100);
  ASSERT_EQ(v.size(), 6);
  EXPECT_EQ(v.token(0), "<pad>");
  EXPECT_EQ(v.token(1), "<unk>");
  EXPECT_EQ(v.token(2), "c");  // 3
  EXPECT_EQ(v.token(3), "a");  // 2, a < b
  EXPECT_EQ(v.token(4), "b");  // 2
  EXPECT_EQ(v.token(5), "d");  // 1
  EXPECT_EQ(v.id("zzz"), Vocab::kUnk);
  Vocab small = Vocab::build(docs, 2, 4);
  EXPECT_EQ(small.size(), 4);
  Vocab back = Vocab::from_text(v.to_text(), "vocab.txt");
  EXPECT_EQ(back.to_text(), v.to_text());
}

}  // namespace
}  // namespace mltrain
