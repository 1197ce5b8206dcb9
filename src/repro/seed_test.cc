#include "mltrain/seed.h"

#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

namespace mltrain {
namespace {

TEST(Seed, SameSeedSameDraws) {
  seed_everything(123, false);
  torch::Tensor a = torch::rand({8});
  seed_everything(123, false);
  torch::Tensor b = torch::rand({8});
  seed_everything(124, false);
  torch::Tensor c = torch::rand({8});
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
}

TEST(Seed, DeterministicModeSetsEverything) {
  ::unsetenv("CUBLAS_WORKSPACE_CONFIG");
  SeedRecord r = seed_everything(7, true);
  EXPECT_TRUE(at::globalContext().deterministicAlgorithms());
  EXPECT_FALSE(at::globalContext().benchmarkCuDNN());
  EXPECT_TRUE(at::globalContext().deterministicCuDNN());
  EXPECT_STREQ(std::getenv("CUBLAS_WORKSPACE_CONFIG"), ":4096:8");
  EXPECT_TRUE(r.deterministic_algorithms);
  EXPECT_EQ(r.cublas_workspace_config, ":4096:8");
  EXPECT_EQ(r.to_json()["seed"], 7);

  SeedRecord f = seed_everything(7, false);
  EXPECT_FALSE(at::globalContext().deterministicAlgorithms());
  EXPECT_TRUE(at::globalContext().benchmarkCuDNN());
  EXPECT_FALSE(f.cudnn_deterministic);
}

}  // namespace
}  // namespace mltrain
