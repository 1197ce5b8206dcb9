// model.sparse: bow's embedding table with row-sparse gradients and lazy
// updates (FusedAdam's lazy Adam, LibTorch's SGD and Adagrad).
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "mltrain/models.h"
#include "mltrain/optim.h"
#include "mltrain/shards.h"
#include "mltrain/state_hash.h"
#include "mltrain/torch_compat.h"
#include "train/optim.h"
#include "train/step.h"

namespace mltrain {
namespace {

constexpr std::int64_t kRows = 3000, kTouched = 200, kClasses = 3;

Config bow_config(bool sparse, const std::string& optimizer) {
  Config cfg;
  cfg.model.embed_dim = 16;
  cfg.model.hidden_dim = 8;
  cfg.model.dropout = 0.2;  // stream dropout: a function of (seed, step, shard)
  cfg.model.sparse = sparse;
  cfg.training.optimizer = optimizer;
  cfg.training.momentum = 0;
  cfg.training.lr = 0.05;
  return cfg;
}

// Bags of ids below kTouched: rows kTouched.. are never touched.
Batch bag_batch(std::int64_t index) {
  torch::manual_seed(1000 + index);
  const torch::Tensor sizes = torch::randint(1, 20, {12}, torch::kLong);
  Batch b;
  b.tokens = torch::randint(0, kTouched, {sizes.sum().item<std::int64_t>()}, torch::kLong);
  b.offsets = torch::cat({torch::zeros({1}, torch::kLong), sizes.cumsum(0)}).slice(0, 0, 12);
  b.labels = torch::randint(0, kClasses, {12}, torch::kLong);
  return b;
}

// The model after `steps` training steps (shards over one process).
struct Trained {
  std::shared_ptr<ClassifierImpl> model;
  std::unique_ptr<torch::optim::Optimizer> opt;
  torch::Tensor initial_table;
};
Trained train(const Config& cfg, int steps, std::int64_t shards = 1) {
  torch::manual_seed(42);
  Trained t;
  t.model = make_classifier(cfg, kRows, kClasses);
  t.initial_table = t.model->named_parameters()["embed.weight"].detach().clone();
  t.opt = make_optimizer(cfg.training, t.model->parameters());
  GradShards g(nullptr, t.model->parameters(), shards, t.model->sparse_parameters());
  for (int s = 1; s <= steps; ++s) {
    Batch b = bag_batch(s);
    if (shards > 1) {  // the batch's shards, as the loader cuts them
      Batch whole;
      whole.examples = b.size();
      for (std::int64_t k = 0; k < shards; ++k) {
        const std::int64_t begin = shard_begin(b.size(), k, shards),
                           end = shard_begin(b.size(), k + 1, shards);
        Batch part;
        const std::int64_t first = b.offsets[begin].item<std::int64_t>();
        const std::int64_t last =
            end < b.size() ? b.offsets[end].item<std::int64_t>() : b.tokens.size(0);
        part.tokens = b.tokens.slice(0, first, last);
        part.offsets = b.offsets.slice(0, begin, end) - first;
        part.labels = b.labels.slice(0, begin, end);
        part.shard = k;
        whole.parts.push_back(part);
      }
      b = whole;
    }
    train_step(*t.model, *t.opt, g, b, 42, s, 0.0);
  }
  return t;
}

torch::Tensor table(const Trained& t) { return t.model->named_parameters()["embed.weight"]; }

// SGD without momentum: the sparse path's weights are the dense path's, bit
// for bit, with one shard and with three.
TEST(Sparse, SgdGivesTheDenseBits) {
  for (std::int64_t shards : {1, 3}) {
    const Trained dense = train(bow_config(false, "sgd"), 4, shards);
    const Trained sparse = train(bow_config(true, "sgd"), 4, shards);
    EXPECT_EQ(state_hash(*sparse.model), state_hash(*dense.model)) << shards << " shards";
  }
}

// Lazy Adam moves the touched rows only (weights and moments); the dense
// layers are updated as by FusedAdam; the result does not depend on the
// thread count.
TEST(Sparse, LazyAdamTouchesOnlyItsRowsAndIgnoresThreads) {
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const Trained one = train(bow_config(true, "adam"), 5);
  const Trained sharded_one_thread = train(bow_config(true, "adam"), 5, 3);
  at::set_num_threads(3);
  const Trained three = train(bow_config(true, "adam"), 5, 3);
  const Trained three_again = train(bow_config(true, "adam"), 5, 3);
  at::set_num_threads(threads);
  EXPECT_EQ(state_hash(*three.model), state_hash(*three_again.model));
  EXPECT_EQ(state_hash(*three.model), state_hash(*sharded_one_thread.model));
  const torch::Tensor w = table(one);
  EXPECT_TRUE(torch::equal(w.slice(0, kTouched), one.initial_table.slice(0, kTouched)));
  EXPECT_FALSE(torch::equal(w.slice(0, 0, kTouched), one.initial_table.slice(0, 0, kTouched)));
  auto& st = static_cast<torch::optim::AdamParamState&>(
      *one.opt->state().at(optimizer_state_key(*one.opt, w)));
  EXPECT_EQ(st.step(), 5);
  EXPECT_EQ(st.exp_avg().slice(0, kTouched).abs().max().item<float>(), 0.0f);
  EXPECT_GT(st.exp_avg().slice(0, 0, kTouched).abs().max().item<float>(), 0.0f);
  // Lazy Adam is another optimizer than dense Adam: different weights.
  const Trained dense = train(bow_config(false, "adam"), 5);
  EXPECT_NE(state_hash(*one.model), state_hash(*dense.model));
}

// Lazy Adam is SparseAdam's formula below, element by element, bit for bit,
// whatever path computes a row (eight lanes with a scalar tail, or scalar):
// widths around the lane width; rows not in the gradient keep their bits.
TEST(Sparse, LazyAdamBitsOfTheElementwiseFormula) {
  for (std::int64_t dim : {1, 7, 8, 13, 64}) {
    torch::manual_seed(static_cast<std::uint64_t>(dim));
    const std::int64_t rows = 30;
    torch::Tensor p = torch::randn({rows, dim}).requires_grad_(true);
    const torch::Tensor p0 = p.detach().clone();
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    FusedAdam opt({p}, torch::optim::AdamOptions(lr), false);
    const torch::Tensor ids = torch::tensor({3, 11, 29}, torch::kLong);
    torch::Tensor want = p0.clone(), m = torch::zeros({rows, dim}), v = torch::zeros({rows, dim});
    for (int step = 1; step <= 3; ++step) {
      const torch::Tensor g = torch::randn({3, dim});
      p.mutable_grad() = torch::sparse_coo_tensor(ids.unsqueeze(0), g, {rows, dim});
      opt.step();
      const double bc1 = 1.0 - std::pow(b1, step), bc2 = 1.0 - std::pow(b2, step);
      const auto neg_step = static_cast<float>(-(lr * std::sqrt(bc2) / bc1));
      const auto c1 = static_cast<float>(1.0 - b1), c2 = static_cast<float>(1.0 - b2);
      for (std::int64_t r = 0; r < 3; ++r) {
        const std::int64_t row = ids[r].item<std::int64_t>();
        for (std::int64_t d = 0; d < dim; ++d) {
          const float gd = g[r][d].item<float>(), m0 = m[row][d].item<float>(),
                      v0 = v[row][d].item<float>();
          const float mu = (gd - m0) * c1, vu = (gd * gd - v0) * c2;
          m[row][d] = m0 + mu;
          v[row][d] = v0 + vu;
          const float q = (mu + m0) / (std::sqrt(vu + v0) + static_cast<float>(eps));
          want[row][d] = want[row][d].item<float>() + neg_step * q;
        }
      }
    }
    EXPECT_TRUE(torch::equal(p.detach(), want))
        << "dim " << dim << ": max diff " << (p.detach() - want).abs().max().item<float>();
    EXPECT_TRUE(torch::equal(p.detach()[0], p0[0])) << "an untouched row moved";
  }
}

TEST(Sparse, AdagradUpdatesTheTouchedRowsOnly) {
  const Trained t = train(bow_config(true, "adagrad"), 3);
  const torch::Tensor w = table(t);
  EXPECT_TRUE(torch::equal(w.slice(0, kTouched), t.initial_table.slice(0, kTouched)));
  EXPECT_FALSE(torch::equal(w.slice(0, 0, kTouched), t.initial_table.slice(0, 0, kTouched)));
  const Trained again = train(bow_config(true, "adagrad"), 3);
  EXPECT_EQ(state_hash(*t.model), state_hash(*again.model));
}

// Gradient clipping works on a sparse table's gradient (its norm is that of
// its rows).
TEST(Sparse, ClippingTakesTheRowsNorm) {
  const Config cfg = bow_config(true, "sgd");
  torch::manual_seed(42);
  auto model = make_classifier(cfg, kRows, kClasses);
  GradShards g(nullptr, model->parameters(), 1, model->sparse_parameters());
  const Batch b = bag_batch(1);
  g.backward([&](std::int64_t) {
    torch::Tensor l = torch::nn::functional::cross_entropy(model->forward(b), b.labels);
    l.backward();
    return l.item<float>();
  });
  double squares = 0;
  for (const auto& p : model->parameters()) {
    const torch::Tensor d = p.grad().is_sparse() ? p.grad().to_dense() : p.grad();
    squares += d.pow(2).sum().item<double>();
  }
  const double norm = clip_gradients(model->parameters(), 1e-3);
  EXPECT_NEAR(norm, std::sqrt(squares), 1e-4 * std::sqrt(squares));
  double after = 0;
  for (const auto& p : model->parameters()) {
    const torch::Tensor d = p.grad().is_sparse() ? p.grad().to_dense() : p.grad();
    after += d.pow(2).sum().item<double>();
  }
  EXPECT_NEAR(std::sqrt(after), 1e-3, 1e-5);
}

}  // namespace
}  // namespace mltrain
