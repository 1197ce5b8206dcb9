#include "mltrain/models.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mltrain/seed.h"
#include "mltrain/state_hash.h"

namespace mltrain {
namespace {

EncodedSplit tiny_split() {
  EncodedSplit s;
  s.ids = {{2, 3, 4}, {5, 6}, {7}, {8, 9, 10, 11}};
  s.labels = {0, 1, 0, 1};
  return s;
}

class Models : public ::testing::TestWithParam<std::string> {};

TEST_P(Models, LogitsShapeAndLearns) {
  Config cfg;
  cfg.model.arch = GetParam();
  cfg.model.embed_dim = 8;
  cfg.model.hidden_dim = 8;
  cfg.model.num_heads = 2;
  cfg.model.dropout = 0.0;
  cfg.tokenizer.max_len = 16;
  seed_everything(1, true);
  auto model = make_classifier(cfg, 20, 2);
  EncodedSplit s = tiny_split();
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  o.layout = layout_for(cfg.model.arch);
  DeterministicLoader l(s, o);
  l.start_epoch(0);
  Batch b;
  ASSERT_TRUE(l.next(&b));
  torch::Tensor logits = model->forward(b);
  EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{4, 2}));
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.05));
  double first = 0, last = 0;
  for (int i = 0; i < 30; ++i) {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(b), b.labels);
    loss.backward();
    opt.step();
    (i == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, first * 0.5);
}

TEST_P(Models, SameSeedSameInit) {
  Config cfg;
  cfg.model.arch = GetParam();
  seed_everything(5, true);
  auto a = make_classifier(cfg, 100, 3);
  seed_everything(5, true);
  auto b = make_classifier(cfg, 100, 3);
  seed_everything(6, true);
  auto c = make_classifier(cfg, 100, 3);
  EXPECT_EQ(state_sha256(*a), state_sha256(*b));
  EXPECT_NE(state_sha256(*a), state_sha256(*c));
}

INSTANTIATE_TEST_SUITE_P(Archs, Models, ::testing::Values("bow", "cnn", "transformer"));

TEST(Models, CnnIgnoresPadding) {
  Config cfg;
  cfg.model.arch = "cnn";
  cfg.model.dropout = 0;
  seed_everything(3, true);
  auto m = make_classifier(cfg, 20, 2);
  m->eval();
  Batch a, b;
  a.tokens = torch::tensor({{2, 3, 4}}, torch::kInt64);
  a.mask = torch::ones({1, 3}, torch::kBool);
  b.tokens = torch::tensor({{2, 3, 4, 0, 0, 0}}, torch::kInt64);
  b.mask = torch::tensor({{true, true, true, false, false, false}});
  // Zero padding in the convolution sees the same zeros either way.
  EXPECT_TRUE(torch::allclose(m->forward(a), m->forward(b), 1e-6, 1e-6));
}

}  // namespace
}  // namespace mltrain
