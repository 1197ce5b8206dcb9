#include "mltrain/models.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "mltrain/rng.h"
#include "mltrain/seed.h"
#include "mltrain/state_hash.h"
#include "models/bag.h"
#include "models/fixed.h"

namespace mltrain {
namespace {

EncodedSplit tiny_split() {
  EncodedSplit s;
  s.add({2, 3, 4}, 0);
  s.add({5, 6}, 1);
  s.add({7}, 0);
  s.add({8, 9, 10, 11}, 1);
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

// hidden_dim 0: the bag of tokens straight into one Linear (fastText's model),
// so the logits are W * mean(embeddings) + b.
TEST(BowWithoutHiddenLayer, IsLinearInTheMeanEmbedding) {
  Config cfg;
  cfg.model.arch = "bow";
  cfg.model.embed_dim = 8;
  cfg.model.hidden_dim = 0;
  cfg.model.dropout = 0.5;
  seed_everything(3, true);
  auto model = make_classifier(cfg, 20, 3);
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"embed.weight", "fc.weight", "fc.bias"}));
  EncodedSplit s = tiny_split();
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  o.layout = layout_for("bow");
  DeterministicLoader l(s, o);
  l.start_epoch(0);
  Batch b;
  ASSERT_TRUE(l.next(&b));
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor logits = model->forward(b);
  ASSERT_EQ(logits.sizes(), (std::vector<std::int64_t>{4, 3}));
  auto params = model->named_parameters();
  const torch::Tensor E = params["embed.weight"], W = params["fc.weight"], bias = params["fc.bias"];
  for (std::int64_t i = 0; i < s.size(); ++i) {
    const TokenIds t = s.tokens(i);
    torch::Tensor ids = torch::tensor(std::vector<std::int32_t>(t.begin(), t.end()), torch::kLong);
    torch::Tensor expect = torch::matmul(W, E.index_select(0, ids).mean(0)) + bias;
    EXPECT_TRUE(torch::allclose(logits[static_cast<std::int64_t>(i)], expect, 1e-5, 1e-6)) << i;
  }
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

// bag_mean: LibTorch's forward, and a backward that gives LibTorch's dense
// gradient bit for bit (the bow model's identity rests on it), for bags of
// any size (empty ones too), repeated ids, and any thread count.
TEST(BagMean, SameGradientAsLibTorch) {
  const int threads = at::get_num_threads();
  for (int trial = 0; trial < 6; ++trial) {
    torch::manual_seed(100 + trial);
    const std::int64_t rows = 50 + 400 * trial, dim = trial % 2 ? 64 : 13, bags = 1 + 9 * trial;
    torch::Tensor w = torch::randn({rows, dim});
    torch::Tensor sizes = torch::randint(0, trial < 3 ? 40 : 900, {bags}, torch::kLong);
    torch::Tensor tokens = torch::randint(0, trial % 3 == 0 ? 7 : rows,
                                          {sizes.sum().item<std::int64_t>()}, torch::kLong);
    torch::Tensor offsets =
        torch::cat({torch::zeros({1}, torch::kLong), sizes.cumsum(0)}).slice(0, 0, bags);
    torch::Tensor up = torch::randn({bags, dim});

    torch::Tensor w1 = w.clone().requires_grad_(true);
    torch::Tensor ref = std::get<0>(torch::embedding_bag(w1, tokens, offsets, false, 1));
    (ref * up).sum().backward();
    for (int t : {1, 2, 3}) {
      at::set_num_threads(t);
      torch::Tensor w2 = w.clone().requires_grad_(true);
      torch::Tensor out = bag_mean(w2, tokens, offsets);
      (out * up).sum().backward();
      EXPECT_TRUE(torch::equal(out, ref)) << "trial " << trial;
      EXPECT_TRUE(torch::equal(w2.grad(), w1.grad()))
          << "trial " << trial << " threads " << t << " max diff "
          << (w2.grad() - w1.grad()).abs().max().item<float>();
      // model.sparse: the touched rows only, ascending, each with the dense
      // gradient's bits; the rows no token touched are absent.
      torch::Tensor w3 = w.clone().requires_grad_(true);
      (bag_mean(w3, tokens, offsets, /*sparse=*/true) * up).sum().backward();
      ASSERT_TRUE(w3.grad().is_sparse());
      const torch::Tensor ids = w3.grad()._indices()[0];
      EXPECT_TRUE(torch::equal(ids, std::get<0>(at::_unique(tokens, /*sorted=*/true))))
          << "trial " << trial;
      EXPECT_TRUE(torch::equal(w3.grad().to_dense(), w1.grad())) << "trial " << trial;
    }
  }
  at::set_num_threads(threads);
}

// What bow runs on a GPU (bag_mean_native, LibTorch's embedding_bag) gives
// on the CPU the bits of the CPU's faster backward: a state dict trained on
// either path is the same model.
TEST(BagMean, NativeOpGivesTheSameBitsOnTheCpu) {
  torch::manual_seed(3);
  const std::int64_t rows = 300, dim = 16, bags = 12;
  torch::Tensor w = torch::randn({rows, dim});
  torch::Tensor sizes = torch::randint(0, 30, {bags}, torch::kLong);
  torch::Tensor tokens =
      torch::randint(0, 20, {sizes.sum().item<std::int64_t>()}, torch::kLong);  // many repeats
  torch::Tensor offsets =
      torch::cat({torch::zeros({1}, torch::kLong), sizes.cumsum(0)}).slice(0, 0, bags);
  torch::Tensor up = torch::randn({bags, dim});
  torch::Tensor w1 = w.clone().requires_grad_(true), w2 = w.clone().requires_grad_(true);
  torch::Tensor fast = bag_mean(w1, tokens, offsets), native = bag_mean_native(w2, tokens, offsets);
  (fast * up).sum().backward();
  (native * up).sum().backward();
  EXPECT_TRUE(torch::equal(fast, native));
  EXPECT_TRUE(torch::equal(w1.grad(), w2.grad()));
}

// The fixed-split layer norm and convolution: LibTorch's forward and input
// gradient bit for bit, parameter gradients equal to LibTorch's up to float
// rounding, and the same bits for 1, 2 and 3 threads.
TEST(FixedSplit, LayerNormAndConv1dMatchLibTorchAndIgnoreThreads) {
  const int threads = at::get_num_threads();
  torch::manual_seed(7);
  torch::Tensor x = torch::randn({6, 300, 24});  // 1800 rows: many chunks
  torch::Tensor up = torch::randn({6, 300, 24});
  torch::Tensor xc = torch::randn({5, 12, 700});  // (B, I, T) for the convolution
  torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({24}));
  torch::nn::Conv1d conv(torch::nn::Conv1dOptions(12, 10, 3).padding(1));
  torch::Tensor upc = torch::randn({5, 10, 700});
  // 600 rows: a single chunk of the convolution's weight gradient.
  torch::Tensor xs = torch::randn({2, 12, 300}), ups = torch::randn({2, 10, 300});
  torch::nn::Conv1d conv2(torch::nn::Conv1dOptions(12, 10, 3).padding(1));
  enum Kind { kModule, kFixed, kNative };
  auto grads = [&](Kind kind) {
    torch::Tensor a = x.clone().requires_grad_(true), c = xc.clone().requires_grad_(true);
    torch::Tensor cs = xs.clone().requires_grad_(true);
    ln->zero_grad();
    conv->zero_grad();
    conv2->zero_grad();
    torch::Tensor y = kind == kFixed    ? layer_norm_fixed(a, ln->weight, ln->bias, 1e-5)
                      : kind == kNative ? layer_norm_native(a, ln->weight, ln->bias, 1e-5)
                                        : ln(a);
    torch::Tensor z = kind == kFixed    ? conv1d_fixed(c, conv->weight, conv->bias)
                      : kind == kNative ? conv1d_native(c, conv->weight, conv->bias)
                                        : conv(c);
    torch::Tensor zs = kind == kFixed    ? conv1d_fixed(cs, conv2->weight, conv2->bias)
                       : kind == kNative ? conv1d_native(cs, conv2->weight, conv2->bias)
                                         : conv2(cs);
    ((y * up).sum() + (z * upc).sum() + (zs * ups).sum()).backward();
    return std::vector<torch::Tensor>{
        y.detach(),  a.grad(),  ln->weight.grad().clone(),    ln->bias.grad().clone(),
        z.detach(),  c.grad(),  conv->weight.grad().clone(),  conv->bias.grad().clone(),
        zs.detach(), cs.grad(), conv2->weight.grad().clone(), conv2->bias.grad().clone()};
  };
  at::set_num_threads(1);
  const auto ref = grads(kModule);
  const auto one = grads(kFixed);
  for (std::size_t i : {0u, 1u, 4u, 8u}) EXPECT_TRUE(torch::equal(one[i], ref[i])) << i;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(torch::allclose(one[i], ref[i], 1e-4, 1e-4)) << i;
  }
  // What other devices run (LibTorch's ops, as the modules call them): the
  // modules' bits, so the same padding, epsilon and parameters.
  const auto native = grads(kNative);
  for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_TRUE(torch::equal(native[i], ref[i])) << i;
  for (int t : {2, 3}) {
    at::set_num_threads(t);
    const auto got = grads(kFixed);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(torch::equal(got[i], one[i])) << "threads " << t << " tensor " << i;
    }
  }
  at::set_num_threads(threads);
}

}  // namespace
}  // namespace mltrain

namespace mltrain {
namespace {

TEST(StreamDropout, MaskIsAFunctionOfKeyOnly) {
  torch::Tensor x = torch::ones({64, 1000});
  std::vector<torch::Tensor> outs;
  const int before = at::get_num_threads();
  for (int threads : {1, 2, 3}) {
    at::set_num_threads(threads);
    outs.push_back(stream_dropout(x, 0.3, stream_key(42, "dropout", 7, 1)));
  }
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(outs[0], outs[1]));
  EXPECT_TRUE(torch::equal(outs[0], outs[2]));
  // Inverted dropout: kept values are scaled by 1 / (1 - p), about 70% kept.
  torch::Tensor kept = outs[0].ne(0);
  EXPECT_NEAR(kept.to(torch::kDouble).mean().item<double>(), 0.7, 0.01);
  EXPECT_NEAR(outs[0].masked_select(kept)[0].item<float>(), 1.0f / 0.7f, 1e-6);
  // Another step or site draws another mask.
  EXPECT_FALSE(torch::equal(outs[0], stream_dropout(x, 0.3, stream_key(42, "dropout", 8, 1))));
  EXPECT_FALSE(torch::equal(outs[0], stream_dropout(x, 0.3, stream_key(42, "dropout", 7, 2))));
}

// The tensor-op mask (what a GPU computes) is the CPU loop's, bit for bit:
// keys with high bits set (signed int64 in the tensor ops), odd and even
// sizes, p from 0 to 0.999.
TEST(StreamDropout, TensorOpsGiveTheLoopsMask) {
  const std::vector<std::uint64_t> keys = {
      0,
      1,
      stream_key(42, "dropout", 7, 1),
      stream_key(42, "dropout", 7, 1 + (std::uint64_t{3} << 32)),
      0x8000000000000000ULL,
      ~std::uint64_t{0}};
  const std::vector<std::vector<std::int64_t>> shapes = {{1}, {2}, {7}, {3, 5, 7}, {64, 1001}};
  for (const std::uint64_t key : keys) {
    for (const auto& shape : shapes) {
      for (const double p : {0.0, 0.1, 0.3, 0.5, 0.999}) {
        const torch::Tensor loop = stream_dropout(torch::ones(shape), p, key);
        const torch::Tensor ops = stream_dropout_mask_tensor_ops(shape, torch::kCPU, p, key);
        ASSERT_EQ(ops.sizes(), loop.sizes());
        ASSERT_EQ(ops.scalar_type(), torch::kFloat);
        EXPECT_TRUE(torch::equal(ops, loop))
            << "key " << key << " numel " << loop.numel() << " p " << p << ": "
            << ops.ne(loop).sum().item<std::int64_t>() << " elements differ";
      }
    }
  }
  // Element 2i is the low half of stream value i, element 2i+1 the high half.
  const std::uint64_t key = stream_key(1, "dropout", 2, 3);
  const torch::Tensor m = stream_dropout_mask_tensor_ops({6}, torch::kCPU, 0.5, key);
  for (std::int64_t e = 0; e < 6; ++e) {
    const std::uint64_t u = stream_at(key, static_cast<std::uint64_t>(e / 2));
    const auto draw = static_cast<std::uint32_t>(e % 2 ? u >> 32 : u);
    EXPECT_EQ(m[e].item<float>(), draw >= 0x80000000u ? 2.0f : 0.0f) << e;
  }
}

// On a GPU (skipped without one): the dropout mask is the CPU's bit for bit,
// bag_mean, the layer norm and the convolution agree with the CPU's within
// rounding, and a model moved there computes the CPU's logits within
// rounding with the same dropout.
TEST(Devices, CudaAgreesWithTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device gpu(torch::kCUDA);
  const std::uint64_t key = stream_key(42, "dropout", 7, 1);
  const torch::Tensor x = torch::randn({33, 517});
  for (const double p : {0.1, 0.5}) {
    EXPECT_TRUE(torch::equal(stream_dropout(x.to(gpu), p, key).cpu(), stream_dropout(x, p, key)));
  }
  torch::manual_seed(5);
  torch::Tensor w = torch::randn({200, 16});
  torch::Tensor tokens = torch::randint(0, 200, {90}, torch::kLong);
  torch::Tensor offsets = torch::tensor({0, 10, 10, 45}, torch::kLong);
  torch::Tensor wc = w.clone().requires_grad_(true), wg = w.to(gpu).requires_grad_(true);
  bag_mean(wc, tokens, offsets).pow(2).sum().backward();
  bag_mean(wg, tokens.to(gpu), offsets.to(gpu)).pow(2).sum().backward();
  EXPECT_TRUE(torch::allclose(wg.grad().cpu(), wc.grad(), 1e-5, 1e-6));

  for (const std::string arch : {"bow", "cnn", "transformer"}) {
    Config cfg;
    cfg.model.arch = arch;
    cfg.model.dropout = 0.3;
    cfg.deterministic = true;  // the fixed-split layer norm and convolution
    seed_everything(1, true);
    auto cpu = make_classifier(cfg, 50, 3);
    seed_everything(1, true);
    auto dev = make_classifier(cfg, 50, 3);
    dev->to(gpu);
    EXPECT_EQ(state_sha256(*cpu), state_sha256(*dev)) << arch;
    EncodedSplit s = tiny_split();
    LoaderOptions o;
    o.batch_size = 4;
    o.shuffle = false;
    o.layout = layout_for(cfg.model.arch);
    DeterministicLoader l(s, o);
    l.start_epoch(0);
    Batch b;
    ASSERT_TRUE(l.next(&b));
    Batch bg = b;
    for (torch::Tensor* t : {&bg.tokens, &bg.offsets, &bg.mask, &bg.labels}) {
      if (t->defined()) *t = t->to(gpu);
    }
    cpu->train();
    dev->train();
    cpu->set_random_step(42, 3);
    dev->set_random_step(42, 3);
    const torch::Tensor lc = cpu->forward(b), lg = dev->forward(bg);
    // cuDNN may convolve in TF32 (LibTorch's default): a looser bound than
    // float rounding, far below what one different dropout mask changes.
    EXPECT_TRUE(torch::allclose(lg.cpu(), lc, 1e-2, 1e-3))
        << arch << " max diff " << (lg.cpu() - lc).abs().max().item<float>();
  }
}

TEST(StreamDropout, OnlyWhileTrainingAndFollowsTheStep) {
  Config cfg;
  cfg.model.arch = "bow";
  cfg.model.dropout = 0.5;
  seed_everything(1, true);
  auto m = make_classifier(cfg, 50, 2);
  Batch b;
  b.tokens = torch::tensor({2, 3, 4, 5}, torch::kInt64);
  b.offsets = torch::tensor({0, 2}, torch::kInt64);
  m->train();
  m->set_random_step(42, 3);
  torch::Tensor a1 = m->forward(b);
  torch::Tensor a2 = m->forward(b);
  m->set_random_step(42, 4);
  torch::Tensor c = m->forward(b);
  EXPECT_TRUE(torch::equal(a1, a2));  // same step, same masks
  EXPECT_FALSE(torch::equal(a1, c));
  m->eval();
  torch::Tensor e1 = m->forward(b);
  m->set_random_step(42, 9);
  EXPECT_TRUE(torch::equal(e1, m->forward(b)));  // no dropout in eval
}

}  // namespace
}  // namespace mltrain
