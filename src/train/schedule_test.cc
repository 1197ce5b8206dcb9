#include <gtest/gtest.h>

#include <cmath>

#include "mltrain/train.h"

namespace mltrain {
namespace {

TEST(Schedule, WarmupThenShapes) {
  TrainingConfig t;
  t.lr = 1.0;
  t.warmup_steps = 4;
  t.scheduler = "linear";
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 0, 104, 10), 0.25);
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 3, 104, 10), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 4, 104, 10), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 54, 104, 10), 0.5);
  t.scheduler = "cosine";
  EXPECT_NEAR(learning_rate_at(t, 54, 104, 10), 0.5, 1e-12);
  EXPECT_NEAR(learning_rate_at(t, 4, 104, 10), 1.0, 1e-12);
  t.scheduler = "constant";
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 100, 104, 10), 1.0);
}

TEST(Schedule, StepDecaysPerEpochs) {
  TrainingConfig t;
  t.lr = 1.0;
  t.scheduler = "step";
  t.step_size = 2;
  t.gamma = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 19, 100, 10), 1.0);     // epoch 1
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 20, 100, 10), 0.1);     // epoch 2
  EXPECT_NEAR(learning_rate_at(t, 45, 100, 10), 0.01, 1e-15);  // epoch 4
}

}  // namespace
}  // namespace mltrain
