#include "mltrain/state_hash.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "repro/state_dict.h"

namespace mltrain {
namespace {

// The same module as Tiny in tests/data/make_golden.py.
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    scale = register_parameter("scale", torch::zeros({2, 2}, torch::kFloat64));
    emb = register_module("emb", torch::nn::Embedding(5, 2));
    fc = register_module("fc", torch::nn::Linear(4, 3));
    bn = register_module("bn", torch::nn::BatchNorm1d(3));
  }
  torch::Tensor scale;
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(Tiny);

// Element i of the k-th state tensor = ((7k + 3i) % 17 - 8) / 16 (exact).
void fill_like_python(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  int k = 0;
  for (auto& kv : ordered_state_dict(m)) {
    torch::Tensor flat = kv.second.view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      double v = ((7 * k + 3 * i) % 17 - 8);
      flat[i] = kv.second.scalar_type() == torch::kInt64 ? v : v / 16.0;
    }
    ++k;
  }
}

nlohmann::json golden() {
  std::ifstream in(std::string(MLTRAIN_TEST_DATA) + "/state_hash.json");
  return nlohmann::json::parse(in);
}

TEST(StateHash, MatchesPythonRecipe) {
  Tiny m;
  fill_like_python(*m);
  auto g = golden();
  EXPECT_EQ(state_sha256(*m), g["sha256"].get<std::string>());
  EXPECT_EQ(state_hash(*m), g["state_hash"].get<std::string>());
  auto per = tensor_hashes(*m);
  ASSERT_EQ(per.size(), g["tensors"].size());
  for (std::size_t i = 0; i < per.size(); ++i) {
    EXPECT_EQ(per[i].first, g["tensors"][i][0].get<std::string>());  // PyTorch order
    EXPECT_EQ(per[i].second, g["tensors"][i][1].get<std::string>());
  }
}

TEST(StateHash, AnyBitChangesIt) {
  Tiny m;
  fill_like_python(*m);
  std::string before = state_sha256(*m);
  {
    torch::NoGradGuard ng;
    float* p = m->fc->weight.data_ptr<float>();
    std::uint32_t u;
    std::memcpy(&u, p, 4);
    u ^= 1;  // flip the lowest mantissa bit
    std::memcpy(p, &u, 4);
  }
  EXPECT_NE(state_sha256(*m), before);
}

TEST(StateHash, NonContiguousTensorsHashTheirValues) {
  Tiny a, b;
  fill_like_python(*a);
  fill_like_python(*b);
  {
    torch::NoGradGuard ng;
    // Same values, transposed storage.
    torch::Tensor w = a->fc->weight.detach().clone();
    b->fc->weight.set_(w.t().contiguous().t());
  }
  EXPECT_FALSE(b->fc->weight.is_contiguous());
  EXPECT_EQ(state_sha256(*a), state_sha256(*b));
}

}  // namespace
}  // namespace mltrain
