#include "data/token_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "core/fs.h"
#include "data/prepare.h"
#include "fixtures.h"
#include "mltrain/data.h"

namespace mltrain {
namespace {

Config sample_config(const std::string& cache_dir) {
  Config cfg;
  const std::string base = std::string(MLTRAIN_SOURCE_DIR) + "/data/sample/";
  cfg.data.train_path = base + "train.jsonl";
  cfg.data.val_path = base + "val.jsonl";
  cfg.data.test_path = base + "test.jsonl";
  cfg.tokenizer.min_freq = 1;
  cfg.tokenizer.ngrams = 2;
  cfg.runtime.cache_dir = cache_dir;
  return cfg;
}

void expect_same_split(const EncodedSplit& a, const EncodedSplit& b) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.total_tokens(), b.total_tokens());
  EXPECT_EQ(0, std::memcmp(a.offsets(), b.offsets(), sizeof(std::int64_t) * (a.size() + 1)));
  EXPECT_EQ(0, std::memcmp(a.labels(), b.labels(), sizeof(std::int64_t) * a.size()));
  EXPECT_EQ(0, std::memcmp(a.ids(), b.ids(), sizeof(std::int32_t) * a.total_tokens()));
}

void expect_same(const PreparedData& a, const PreparedData& b) {
  EXPECT_EQ(a.vocab.to_text(), b.vocab.to_text());
  EXPECT_EQ(a.label_names, b.label_names);
  expect_same_split(a.train, b.train);
  expect_same_split(a.val, b.val);
  expect_same_split(a.test, b.test);
  EXPECT_EQ(a.fingerprint["files"], b.fingerprint["files"]);
  EXPECT_EQ(a.fingerprint["vocab"], b.fingerprint["vocab"]);
}

TEST(TokenCache, AHitGivesTheSameIdsAsPreparingFromTheFiles) {
  const std::string dir = fixtures::temp_dir();
  Config off = sample_config(dir);
  off.runtime.token_cache = false;
  const PreparedData direct = prepare_data(off);
  EXPECT_FALSE(direct.fingerprint.contains("token_cache"));

  const Config on = sample_config(dir);
  const PreparedData miss = prepare_data(on);
  ASSERT_EQ(miss.fingerprint["token_cache"]["hit"], false);
  const PreparedData hit = prepare_data(on);
  ASSERT_EQ(hit.fingerprint["token_cache"]["hit"], true);
  expect_same(direct, miss);
  expect_same(direct, hit);

  // Another tokenizer setting is another entry.
  Config other = on;
  other.tokenizer.ngrams = 1;
  EXPECT_EQ(prepare_data(other).fingerprint["token_cache"]["hit"], false);
  EXPECT_EQ(list_dir(join_path(dir, "tokens")).size(), 2u);
}

TEST(PrepareData, SameIdsForAnyThreadCount) {
  const std::string dir = fixtures::temp_dir();
  Config cfg = sample_config(dir);
  cfg.runtime.token_cache = false;
  cfg.tokenizer.ngrams = 3;
  cfg.runtime.num_workers = 1;
  const PreparedData one = prepare_data(cfg);
  for (int threads : {0, 2, 4, 7}) {
    cfg.runtime.num_workers = threads;
    SCOPED_TRACE(threads);
    expect_same(one, prepare_data(cfg));
  }
  // Enough rows for every thread to get a share (the sample has 200).
  ASSERT_GE(one.train.size(), 200);
}

// The streaming preparation against the plain one it replaced, written here
// from the public pieces: whole files read, every row tokenized, the
// vocabulary built from all the tokens, ids and labels looked up. Small
// blocks cut the sample into many blocks (each with its own pieces, counted
// into per-thread dictionaries), and every thread count gives the same.
PreparedData plain_prepare(const Config& cfg) {
  PreparedData out;
  TextFile files[3];
  const std::string* paths[] = {&cfg.data.train_path, &cfg.data.val_path, &cfg.data.test_path};
  for (int k = 0; k < 3; ++k) {
    files[k] = read_examples(*paths[k], "auto", cfg.data.text_field, cfg.data.label_field);
  }
  Tokenizer tok(cfg.tokenizer);
  std::vector<std::vector<std::string>> tokens[3];
  std::set<std::string> labels;
  for (int k = 0; k < 3; ++k) {
    for (const auto& ex : files[k].rows) {
      tokens[k].emplace_back();
      tok.tokenize(ex.text, &tokens[k].back());
      if (k == 0) labels.insert(ex.label);
    }
  }
  out.vocab = Vocab::build(tokens[0], cfg.tokenizer.min_freq, cfg.tokenizer.max_vocab);
  out.label_names.assign(labels.begin(), labels.end());
  EncodedSplit* splits[] = {&out.train, &out.val, &out.test};
  for (int k = 0; k < 3; ++k) {
    for (std::size_t i = 0; i < tokens[k].size(); ++i) {
      std::vector<std::int32_t> ids;
      for (const auto& t : tokens[k][i]) ids.push_back(out.vocab.id(t));
      const auto& names = out.label_names;
      splits[k]->add(ids, std::lower_bound(names.begin(), names.end(), files[k].rows[i].label) -
                              names.begin());
    }
  }
  return out;
}

TEST(PrepareData, StreamingGivesThePlainResultForAnyBlockSizeAndThreads) {
  Config cfg = sample_config(fixtures::temp_dir());
  cfg.runtime.token_cache = false;
  cfg.tokenizer.min_freq = 2;  // ids depend on the summed counts, <unk> included
  const PreparedData plain = plain_prepare(cfg);
  ASSERT_GT(plain.vocab.size(), 100);
  for (std::size_t block : {std::size_t{200}, std::size_t{4096}, kPrepareBlockBytes}) {
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE("block " + std::to_string(block) + " threads " + std::to_string(threads));
      cfg.runtime.num_workers = threads;
      const PreparedData got = prepare_uncached(cfg, block);
      EXPECT_EQ(got.vocab.to_text(), plain.vocab.to_text());
      EXPECT_EQ(got.label_names, plain.label_names);
      expect_same_split(got.train, plain.train);
      expect_same_split(got.val, plain.val);
      expect_same_split(got.test, plain.test);
    }
  }
}

TEST(TokenCache, DamagedEntriesAreRefusedWithAReason) {
  const std::string dir = fixtures::temp_dir();
  const PreparedData d = prepare_data(sample_config(dir));
  const std::string good = token_cache_bytes(d);
  const std::string path = join_path(dir, "entry.bin");
  PreparedData out;
  std::string why;

  write_file_atomic(path, good);
  ASSERT_TRUE(load_token_cache(path, &out, &why)) << why;
  expect_same(d, out);

  std::string flipped = good;
  flipped[flipped.size() - 5] ^= 0x20;
  write_file_atomic(path, flipped);
  EXPECT_FALSE(load_token_cache(path, &out, &why));
  EXPECT_EQ(why, "checksum mismatch");

  write_file_atomic(path, good.substr(0, good.size() / 2));
  EXPECT_FALSE(load_token_cache(path, &out, &why));
  EXPECT_NE(why.find("truncated"), std::string::npos) << why;

  write_file_atomic(path, "not a cache entry at all, but long enough to have a header..........");
  EXPECT_FALSE(load_token_cache(path, &out, &why));
  EXPECT_EQ(why, "not a token cache entry");

  // A token id past the vocabulary, behind a valid checksum: still refused.
  std::string bad = good;
  // The test split's ids end the payload (zero-padded to 8 bytes): put the
  // huge id on its last token.
  const std::int32_t huge = 1 << 30;
  const auto test_tokens = static_cast<std::size_t>(d.test.total_tokens());
  const std::size_t at = bad.size() - (test_tokens * 4 + 7) / 8 * 8 + (test_tokens - 1) * 4;
  std::memcpy(&bad[at], &huge, 4);
  bad = token_cache_entry(bad.substr(88));  // a valid header and checksum again
  write_file_atomic(path, bad);
  EXPECT_FALSE(load_token_cache(path, &out, &why));
  EXPECT_NE(why.find("out of range"), std::string::npos) << why;
}

}  // namespace
}  // namespace mltrain
