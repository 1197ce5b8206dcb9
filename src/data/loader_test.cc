#include "mltrain/loader.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>

namespace mltrain {
namespace {

EncodedSplit make_split(int n) {
  EncodedSplit s;
  s.name = "train";
  for (int i = 0; i < n; ++i) {
    std::vector<std::int32_t> ids;
    for (int j = 0; j < 5 + i % 7; ++j) ids.push_back(2 + (i * 31 + j * 7) % 50);
    s.add(ids, i % 2);
  }
  return s;
}

std::vector<Batch> epoch_batches(DeterministicLoader& l, std::int64_t epoch,
                                 std::int64_t from = 0) {
  std::vector<Batch> out;
  l.start_epoch(epoch, from);
  Batch b;
  while (l.next(&b)) out.push_back(b);
  return out;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b, BatchLayout layout) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_TRUE(torch::equal(a[i].tokens, b[i].tokens)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].labels, b[i].labels)) << "batch " << i;
    if (layout == BatchLayout::kBag) {
      EXPECT_TRUE(torch::equal(a[i].offsets, b[i].offsets));
    } else {
      EXPECT_TRUE(torch::equal(a[i].mask, b[i].mask));
    }
  }
}

class LoaderInvariance : public ::testing::TestWithParam<BatchLayout> {};

// G3 at the loader level: the batches are identical for any num_workers,
// token dropout included.
TEST_P(LoaderInvariance, SameBatchesForAnyNumWorkers) {
  EncodedSplit s = make_split(203);
  LoaderOptions o;
  o.batch_size = 16;
  o.token_dropout = 0.3;
  o.layout = GetParam();
  o.num_workers = 0;
  DeterministicLoader ref(s, o);
  auto want = epoch_batches(ref, 2);
  EXPECT_EQ(want.size(), 13u);
  for (int w : {1, 2, 3, 8}) {
    o.num_workers = w;
    DeterministicLoader l(s, o);
    expect_same(want, epoch_batches(l, 2), o.layout);
  }
}

// Gradient shards: rank r of W builds exactly shards k = r, r+W, ... of each
// batch; a shard is the same whatever W (its own padding, its own token
// dropout), and the shards in order are the whole batch.
TEST_P(LoaderInvariance, ShardsDoNotDependOnTheWorldSize) {
  EncodedSplit s = make_split(203);  // the last batch has 11 examples
  LoaderOptions o;
  o.batch_size = 16;
  o.token_dropout = 0.3;
  o.layout = GetParam();
  o.num_workers = 2;
  DeterministicLoader whole(s, o);
  const auto want = epoch_batches(whole, 1);
  o.shards = 3;
  std::map<std::pair<std::int64_t, std::int64_t>, Batch> one;  // (batch, shard) with world 1
  {
    DeterministicLoader l(s, o);
    for (const Batch& b : epoch_batches(l, 1)) {
      ASSERT_EQ(b.parts.size(), 3u);
      EXPECT_EQ(b.size(), want[static_cast<std::size_t>(b.index)].size());
      std::vector<torch::Tensor> labels;
      for (const Batch& p : b.parts) {
        one[{b.index, p.shard}] = p;
        labels.push_back(p.labels);
      }
      EXPECT_TRUE(torch::equal(torch::cat(labels), want[static_cast<std::size_t>(b.index)].labels));
    }
  }
  for (std::int64_t world : {2, 3}) {
    std::set<std::pair<std::int64_t, std::int64_t>> seen;
    for (std::int64_t rank = 0; rank < world; ++rank) {
      o.world = world;
      o.rank = rank;
      DeterministicLoader l(s, o);
      for (const Batch& b : epoch_batches(l, 1)) {
        for (const Batch& p : b.parts) {
          EXPECT_EQ(p.shard % world, rank);
          EXPECT_TRUE(seen.insert({b.index, p.shard}).second);
          expect_same({one.at({b.index, p.shard})}, {p}, o.layout);
        }
      }
    }
    EXPECT_EQ(seen.size(), one.size()) << "world " << world;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, LoaderInvariance,
                         ::testing::Values(BatchLayout::kBag, BatchLayout::kPadded));

TEST(Loader, EpochsShuffleDifferentlyAndResumeMidEpoch) {
  EncodedSplit s = make_split(100);
  LoaderOptions o;
  o.batch_size = 10;
  o.num_workers = 2;
  DeterministicLoader l(s, o);
  EXPECT_NE(l.order(0), l.order(1));
  auto full = epoch_batches(l, 1);
  auto tail = epoch_batches(l, 1, 4);  // resumed at batch 4
  ASSERT_EQ(tail.size(), 6u);
  std::vector<Batch> want(full.begin() + 4, full.end());
  expect_same(want, tail, o.layout);
}

TEST(Loader, TokenDropoutDependsOnSeedAndEpochNotPosition) {
  EncodedSplit s = make_split(50);
  LoaderOptions o;
  o.batch_size = 50;
  o.shuffle = false;
  o.token_dropout = 0.5;
  DeterministicLoader a(s, o);
  auto e0 = epoch_batches(a, 0);
  auto e1 = epoch_batches(a, 1);
  EXPECT_FALSE(torch::equal(e0[0].tokens, e1[0].tokens));
  o.seed = 43;
  DeterministicLoader b(s, o);
  EXPECT_FALSE(torch::equal(e0[0].tokens, epoch_batches(b, 0)[0].tokens));
  // With dropout the bag keeps roughly half the tokens, never zero per sample.
  auto n = e0[0].tokens.size(0);
  std::int64_t total = 0;
  for (std::int64_t i = 0; i < s.size(); ++i) total += static_cast<std::int64_t>(s.tokens(i).size);
  EXPECT_GT(n, total / 4);
  EXPECT_LT(n, total * 3 / 4);
}

}  // namespace
}  // namespace mltrain
