#include "mltrain/env.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

namespace mltrain {
namespace {

// "cuda" is null unless LibTorch has CUDA and sees a GPU; then it holds the
// build's and the loaded libraries' versions and each device as the driver
// sees it. The fields older runs recorded keep their names.
TEST(Environment, CudaIsNullWithoutAGpuAndDescribesItOtherwise) {
  const nlohmann::json env = environment_manifest();
  for (const char* key : {"ml_train", "compiler", "cxx_stdlib", "cxx_standard", "libtorch", "blas",
                          "threads", "cpu", "cuda", "os", "env_vars"}) {
    EXPECT_TRUE(env.contains(key)) << key;
  }
  const nlohmann::json& cuda = env["cuda"];
  if (!torch::cuda::is_available()) {
    EXPECT_TRUE(cuda.is_null()) << cuda.dump();
    return;
  }
  EXPECT_EQ(cuda["device_count"], static_cast<int>(torch::cuda::device_count()));
  for (const char* key :
       {"cudnn_version", "gpus", "cudart_build_version", "cudart_version", "driver"}) {
    EXPECT_TRUE(cuda.contains(key)) << key;
  }
  EXPECT_GT(cuda["cudart_build_version"].get<long>(), 0);
  ASSERT_TRUE(cuda["driver"].is_object()) << cuda.dump();
  EXPECT_GT(cuda["driver"]["cuda_version"].get<int>(), 0);
  ASSERT_EQ(cuda["driver"]["devices"].size(), cuda["device_count"].get<std::size_t>());
  for (const auto& d : cuda["driver"]["devices"]) {
    ASSERT_TRUE(d.is_object()) << cuda.dump();
    EXPECT_FALSE(d["name"].get<std::string>().empty());
    EXPECT_NE(d["compute_capability"].get<std::string>().find('.'), std::string::npos);
    EXPECT_GT(d["memory_bytes"].get<std::uint64_t>(), 0u);
  }
}

}  // namespace
}  // namespace mltrain
