#include "mltrain/rng.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace mltrain {
namespace {

// Golden values, computed by an independent Python implementation of the
// formulas in rng.h. They pin the streams. If this test fails, every
// saved run's shuffles and token dropout would change: that is a breaking
// change to the reproducibility contract, not a test to update casually.
TEST(Rng, GoldenValues) {
  EXPECT_EQ(mix64(0), 0ULL);
  EXPECT_EQ(mix64(0x9e3779b97f4a7c15ULL), 0xe220a8397b1dcdafULL);  // SplitMix64(0) first output
  EXPECT_EQ(purpose_hash(""), 0xcbf29ce484222325ULL);              // FNV-1a offset basis
  EXPECT_EQ(purpose_hash("a"), 0xaf63dc4c8601ec8cULL);             // FNV-1a("a")
  Stream s(42, "shuffle", 0, 0);
  EXPECT_EQ(s.next_u64(), 0xa8e7fde2777bfabaULL);
  EXPECT_EQ(s.next_u64(), 0x4ea707580d99f84fULL);
  Stream t(42, "sample", 3, 17);
  EXPECT_EQ(t.next_u64(), 0xc07340ee4fa25a03ULL);
  Stream p(7, "shuffle", 1);
  auto perm = permutation(10, &p);
  EXPECT_EQ(perm, (std::vector<std::int64_t>{0, 2, 5, 7, 6, 3, 1, 8, 4, 9}));
}

TEST(Rng, SameKeySameDraws) {
  Stream a(123, "sample", 2, 9), b(123, "sample", 2, 9);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
}

TEST(Rng, DifferentKeysGiveDifferentStreams) {
  std::set<std::uint64_t> keys;
  for (std::uint64_t seed : {0ULL, 1ULL, 42ULL}) {
    for (const char* purpose : {"shuffle", "sample", "init"}) {
      for (std::uint64_t e = 0; e < 4; ++e) {
        for (std::uint64_t i = 0; i < 4; ++i) keys.insert(stream_key(seed, purpose, e, i));
      }
    }
  }
  EXPECT_EQ(keys.size(), 3u * 3u * 4u * 4u);
}

// Neighbouring streams must look independent: the correlation of their
// uniforms is near zero and each is near-uniform.
TEST(Rng, NeighbouringStreamsAreUncorrelated) {
  const int n = 20000;
  Stream a(42, "sample", 0, 0), b(42, "sample", 0, 1), c(42, "sample", 1, 0);
  double sab = 0, sac = 0, sa = 0, sb = 0, sc = 0, saa = 0, sbb = 0, scc = 0;
  for (int i = 0; i < n; ++i) {
    double x = a.uniform(), y = b.uniform(), z = c.uniform();
    sa += x, sb += y, sc += z;
    saa += x * x, sbb += y * y, scc += z * z;
    sab += x * y, sac += x * z;
  }
  auto corr = [&](double sxy, double sx, double sy, double sxx, double syy) {
    double cov = sxy / n - (sx / n) * (sy / n);
    return cov / std::sqrt((sxx / n - (sx / n) * (sx / n)) * (syy / n - (sy / n) * (sy / n)));
  };
  EXPECT_LT(std::fabs(corr(sab, sa, sb, saa, sbb)), 0.03);
  EXPECT_LT(std::fabs(corr(sac, sa, sc, saa, scc)), 0.03);
  EXPECT_NEAR(sa / n, 0.5, 0.01);
}

TEST(Rng, BelowIsInRangeAndCoversIt) {
  Stream s(1, "t");
  std::vector<int> hist(7, 0);
  for (int i = 0; i < 7000; ++i) {
    auto v = s.below(7);
    ASSERT_LT(v, 7u);
    ++hist[v];
  }
  for (int h : hist) EXPECT_GT(h, 850);
}

TEST(Rng, PermutationIsAPermutation) {
  Stream s(5, "shuffle", 2);
  auto p = permutation(1000, &s);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_NE(p, sorted);
}

}  // namespace
}  // namespace mltrain
