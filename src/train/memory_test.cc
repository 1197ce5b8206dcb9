#include "train/memory.h"

#include <gtest/gtest.h>

#include "mltrain/error.h"

namespace mltrain {
namespace {

// The shipped sample data's shape: 200 training rows, 40 to evaluate.
DataShape sample_shape() {
  DataShape d;
  d.train_rows = 200;
  d.eval_rows = 40;
  d.longest = 1024;
  d.vocab = 1094;
  d.train_tokens = 25595;
  return d;
}

// Full-batch training (batch_size above the training split) holds the split,
// not batch_size rows; a max_vocab far above the vocabulary holds the
// vocabulary. Both used to be refused by bounds taken from the config alone.
TEST(Memory, BoundsComeFromWhatTheDataCanHold) {
  Config cfg;
  cfg.training.batch_size = 1000000;
  const MemoryEstimate full = estimate_memory(cfg, sample_shape());
  EXPECT_LT(full.bytes, 1e9) << full.dominant;
  EXPECT_NO_THROW(check_memory(cfg, sample_shape()));
  cfg.training.batch_size = 200;
  EXPECT_EQ(estimate_memory(cfg, sample_shape()).bytes, full.bytes);  // the same rows
  DataShape big = sample_shape();
  big.train_rows = 1000000;  // a split that large does need the memory
  cfg.training.batch_size = 1000000;
  EXPECT_GT(estimate_memory(cfg, big).bytes, 40 * full.bytes);

  Config wide;
  wide.tokenizer.max_vocab = 50000000;
  wide.model.embed_dim = 1024;
  EXPECT_NO_THROW(check_memory(wide, sample_shape()));  // 1094 rows, not 50 million
  DataShape huge = sample_shape();
  huge.vocab = 2000000;
  try {
    check_memory(wide, huge);
    FAIL() << "2 billion parameters accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the vocabulary has 2000000 entries"), std::string::npos)
        << e.what();
  }
  // Gradient shards: one forward/backward holds one shard's rows.
  Config sharded;
  sharded.model.arch = "transformer";
  sharded.training.batch_size = 200;
  const double whole = estimate_memory(sharded, sample_shape()).bytes;
  sharded.training.grad_shards = 4;
  EXPECT_LT(estimate_memory(sharded, sample_shape()).bytes, whole);
}

}  // namespace
}  // namespace mltrain
