#include "train/step.h"

#include <torch/torch.h>

#include <chrono>
#include <vector>

#include "train/dist.h"

namespace mltrain {
namespace {

constexpr std::int64_t kEvalBatch = 128;

}  // namespace

float train_step(ClassifierImpl& model, torch::optim::Optimizer& optimizer, const Batch& batch,
                 std::uint64_t seed, std::int64_t step, double grad_clip) {
  // Gradients are dropped, not zeroed: backward then stores each new one
  // instead of adding it to zeros (the same bits, one pass over every
  // parameter less; the embedding's gradient is most of them).
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad().reset();
  }
  model.set_random_step(seed, step);
  torch::Tensor logits = model.forward(batch);  // (B, C)
  torch::Tensor loss = torch::nn::functional::cross_entropy(logits, batch.labels);
  const float value = loss.item<float>();
  loss.backward();
  // A parameter the loss did not reach gets zeros, as zero_grad gave it.
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    }
  }
  if (grad_clip > 0) torch::nn::utils::clip_grad_norm_(model.parameters(), grad_clip);
  optimizer.step();
  return value;
}

float train_step_sharded(ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                         const Batch& batch, std::int64_t shards, Group* group, std::uint64_t seed,
                         std::int64_t step, double grad_clip, ShardScratch* scratch,
                         double* comm_seconds) {
  const std::int64_t world = group ? group->world() : 1;
  std::vector<torch::Tensor> params;
  for (auto& g : optimizer.param_groups()) {
    for (auto& p : g.params()) params.push_back(p);
  }
  std::int64_t total = 0;
  for (const auto& p : params) total += p.numel();
  // Row j: shard rank + j * world; its gradient, then its loss.
  const std::int64_t slots = (shards + world - 1) / world;
  if (!scratch->payload.defined()) {
    scratch->payload = torch::empty({slots, total + 1}, torch::kFloat);
    scratch->sum = torch::empty({total}, torch::kFloat);
  }
  torch::Tensor& payload = scratch->payload;
  const auto n = static_cast<float>(batch.size());
  for (std::int64_t j = 0; j < slots; ++j) {
    const bool mine = j < static_cast<std::int64_t>(batch.parts.size());
    if (!mine || batch.parts[static_cast<std::size_t>(j)].size() == 0) {
      payload[j].zero_();  // no shard, or an empty one: it adds zeros
      continue;
    }
    const Batch& part = batch.parts[static_cast<std::size_t>(j)];
    for (auto& p : params) p.mutable_grad().reset();
    model.set_random_step(seed, step, part.shard);
    torch::Tensor logits = model.forward(part);  // (n_k, C)
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, part.labels) *
                         (static_cast<float>(part.size()) / n);
    loss.backward();
    torch::Tensor row = payload[j];
    std::int64_t off = 0;
    for (const auto& p : params) {
      torch::Tensor slice = row.narrow(0, off, p.numel());
      if (p.grad().defined()) {
        slice.copy_(p.grad().reshape({-1}));
      } else {
        slice.zero_();  // a parameter this shard does not reach
      }
      off += p.numel();
    }
    row[total] = loss.item<float>();
  }
  model.set_random_step(seed, step, 0);

  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<torch::Tensor> all =
      group ? group->all_gather(payload) : std::vector<torch::Tensor>{payload};
  if (comm_seconds) {
    *comm_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  // Shard k sits in row k / world of rank k % world's payload.
  auto shard_row = [&](std::int64_t k) { return all[k % world][k / world]; };
  torch::Tensor& sum = scratch->sum;
  sum.copy_(shard_row(0).narrow(0, 0, total));
  float loss = shard_row(0)[total].item<float>();
  for (std::int64_t k = 1; k < shards; ++k) {
    sum.add_(shard_row(k).narrow(0, 0, total));
    loss += shard_row(k)[total].item<float>();
  }
  std::int64_t off = 0;
  for (auto& p : params) {
    p.mutable_grad() = sum.narrow(0, off, p.numel()).view(p.sizes());
    off += p.numel();
  }
  if (grad_clip > 0) torch::nn::utils::clip_grad_norm_(model.parameters(), grad_clip);
  optimizer.step();
  return loss;
}

EvalResult evaluate(ClassifierImpl& model, const EncodedSplit& split, const Config& cfg,
                    std::int64_t num_classes, Group* group) {
  EvalResult r;
  if (split.size() == 0) return r;
  torch::NoGradGuard no_grad;
  model.eval();
  LoaderOptions lo;
  lo.batch_size = kEvalBatch;
  lo.shuffle = false;
  lo.seed = cfg.seed;
  lo.num_workers = group ? 0 : cfg.runtime.num_workers;
  lo.layout = layout_for(cfg.model.arch);
  DeterministicLoader loader(split, lo);
  const std::int64_t batches = loader.num_batches();
  const std::int64_t world = group ? group->world() : 1;
  const std::int64_t rank = group ? group->rank() : 0;
  // One row per batch this rank evaluates (b % world == rank): its summed
  // loss, its correct count, then tp, fp, fn per class. Doubles hold every
  // count exactly.
  const std::int64_t width = 2 + 3 * num_classes;
  const std::int64_t rows = (batches + world - 1) / world;
  torch::Tensor mine = torch::zeros({rows, width}, torch::kDouble);
  auto one_batch = [&](const Batch& b, std::int64_t row) {
    torch::Tensor logits = model.forward(b);  // (B, C)
    auto out = mine.accessor<double, 2>();
    out[row][0] = torch::nn::functional::cross_entropy(
                      logits, b.labels,
                      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
    torch::Tensor pred = logits.argmax(1);  // (B,)
    auto pa = pred.accessor<std::int64_t, 1>();
    auto la = b.labels.accessor<std::int64_t, 1>();
    for (std::int64_t i = 0; i < b.size(); ++i) {
      if (pa[i] == la[i]) {
        out[row][1] += 1;
        out[row][2 + la[i]] += 1;  // tp
      } else {
        out[row][2 + num_classes + pa[i]] += 1;      // fp
        out[row][2 + 2 * num_classes + la[i]] += 1;  // fn
      }
    }
  };
  if (group) {
    for (std::int64_t b = rank, row = 0; b < batches; b += world, ++row) {
      one_batch(loader.make_batch(0, b), row);
    }
  } else {
    loader.start_epoch(0);
    Batch b;
    for (std::int64_t row = 0; loader.next(&b); ++row) one_batch(b, row);
  }
  model.train();
  const std::vector<torch::Tensor> all =
      group ? group->all_gather(mine) : std::vector<torch::Tensor>{mine};
  // Batch b sits in row b / world of rank b % world: added in batch order,
  // the same additions for any world size.
  std::vector<std::int64_t> tp(num_classes, 0), fp(num_classes, 0), fn(num_classes, 0);
  double loss_sum = 0;
  std::int64_t correct = 0;
  for (std::int64_t b = 0; b < batches; ++b) {
    auto row = all[static_cast<std::size_t>(b % world)].accessor<double, 2>()[b / world];
    loss_sum += row[0];
    correct += static_cast<std::int64_t>(row[1]);
    for (std::int64_t c = 0; c < num_classes; ++c) {
      tp[c] += static_cast<std::int64_t>(row[2 + c]);
      fp[c] += static_cast<std::int64_t>(row[2 + num_classes + c]);
      fn[c] += static_cast<std::int64_t>(row[2 + 2 * num_classes + c]);
    }
  }
  r.n = split.size();
  r.loss = loss_sum / static_cast<double>(r.n);
  r.acc = static_cast<double>(correct) / static_cast<double>(r.n);
  double f1 = 0;
  for (std::int64_t c = 0; c < num_classes; ++c) {
    std::int64_t d = 2 * tp[c] + fp[c] + fn[c];
    f1 += d ? 2.0 * static_cast<double>(tp[c]) / static_cast<double>(d) : 0.0;
  }
  r.f1 = f1 / static_cast<double>(num_classes);
  return r;
}

}  // namespace mltrain
