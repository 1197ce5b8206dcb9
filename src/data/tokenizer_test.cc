#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "data/sentencepiece.h"
#include "mltrain/data.h"
#include "mltrain/error.h"
#include "mltrain/rng.h"

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

// char_wb n-grams: within each word, padded with a space (scikit-learn's
// analyzer='char_wb'), after the characters themselves.
TEST(Tokenizer, CharNgramsWithinWords) {
  TokenizerConfig c;
  c.kind = "char";
  c.ngrams = 3;
  // The characters, then per word its 2-grams and 3-grams.
  EXPECT_EQ(tok("ab c", c), (std::vector<std::string>{"a", "b", " ", "c", " a", "ab", "b ", " ab",
                                                      "ab ", " c", "c ", " c "}));
}

TEST(Tokenizer, HashedNgramsAreBoundedAndStable) {
  TokenizerConfig c;
  c.kind = "char";
  c.ngrams = 4;
  c.hash_buckets = 7;
  const auto t = tok("hello world hello", c);
  std::set<std::string> buckets;
  for (const auto& x : t) {
    if (x.size() > 1 && x[0] == '#') buckets.insert(x);
  }
  EXPECT_LE(buckets.size(), 7u);
  EXPECT_FALSE(buckets.empty());
  // The bucket of an n-gram is FNV-1a 64 of its bytes modulo the buckets.
  EXPECT_NE(std::find(t.begin(), t.end(), "#" + std::to_string(purpose_hash(" he") % 7)), t.end());
  EXPECT_EQ(tok("hello world hello", c), t);
  TokenizerConfig w;
  w.ngrams = 2;
  w.hash_buckets = 3;
  EXPECT_EQ(tok("a b", w),
            (std::vector<std::string>{"a", "b", "#" + std::to_string(purpose_hash("a b") % 3)}));
}

#if !defined(__SANITIZE_ADDRESS__)
std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back("Cheap meds now, click here " + std::to_string(i % 7) +
                    " times! Meeting at noon about the quarterly report number " +
                    std::to_string(i));
  }
  return texts;
}

// The pieces depend on the texts and settings only: not on the seed, not on
// the thread count; so a trained model can be cached by (data, settings).
TEST(SentencePiece, TrainingIsDeterministic) {
  if (!sentencepiece_built()) GTEST_SKIP() << "this build has no SentencePiece";
  TokenizerConfig c;
  c.kind = "sentencepiece";
  c.vocab_size = 120;
  for (const char* type : {"unigram", "bpe"}) {
    c.sp_type = type;
    const std::string a = train_sentencepiece(c, corpus(), 1, 1);
    const std::string b = train_sentencepiece(c, corpus(), 99, 2);
    std::int64_t pieces = 0;
    EXPECT_EQ(sentencepiece_fingerprint(a, &pieces), sentencepiece_fingerprint(b)) << type;
    EXPECT_GT(pieces, 40) << type;  // a small corpus gives fewer pieces, not an error
    EXPECT_LE(pieces, 120) << type;
    Tokenizer t(c, a);
    std::vector<std::string> out;
    t.tokenize("Cheap MEDS", &out);
    EXPECT_FALSE(out.empty());
    std::string joined;
    for (const auto& p : out) joined += p;
    // Lower-cased; "\u2581" marks the start of a word.
    EXPECT_EQ(joined,
              "\xe2\x96\x81"
              "cheap"
              "\xe2\x96\x81"
              "meds")
        << type;
  }
}

TEST(SentencePiece, ABadModelIsAnError) {
  if (!sentencepiece_built()) GTEST_SKIP() << "this build has no SentencePiece";
  TokenizerConfig c;
  c.kind = "sentencepiece";
  EXPECT_THROW(Tokenizer(c, "not a model"), Error);
  EXPECT_THROW(sentencepiece_fingerprint("garbage"), Error);
}
#endif

// A build without SentencePiece (MLTRAIN_SENTENCEPIECE=OFF, or no
// libsentencepiece) refuses the tokenizer with one clear usage error.
TEST(SentencePiece, ABuildWithoutItSaysSo) {
  if (sentencepiece_built()) GTEST_SKIP() << "this build has SentencePiece";
  TokenizerConfig c;
  c.kind = "sentencepiece";
  c.vocab_size = 120;
  for (int use = 0; use < 2; ++use) {
    try {
      if (use == 0) train_sentencepiece(c, {"some text"}, 1, 1);
      if (use == 1) Tokenizer(c, "a model");
      ADD_FAILURE() << "no error for use " << use;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      EXPECT_NE(std::string(e.what()).find("this build has no SentencePiece"), std::string::npos)
          << e.what();
    }
  }
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
