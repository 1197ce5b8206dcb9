#include "train/step.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "mltrain/ranks.h"

namespace mltrain {
namespace {

constexpr std::int64_t kEvalBatch = 128;

}  // namespace

static torch::Device device_of(ClassifierImpl& model) {
  const auto params = model.parameters();
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

double clip_gradients(const std::vector<torch::Tensor>& params, double max_norm) {
  bool sparse = false;
  for (const auto& p : params) sparse = sparse || (p.grad().defined() && p.grad().is_sparse());
  if (!sparse) return torch::nn::utils::clip_grad_norm_(params, max_norm);
  // LibTorch's formula; a sparse gradient's norm is its rows', and it is
  // scaled through its values (LibTorch's in-place multiply of a sparse
  // gradient's .data() leaves the gradient as it was).
  double total = 0;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    const torch::Tensor g = p.grad().is_sparse() ? distinct_rows(p.grad())._values() : p.grad();
    total += std::pow(g.norm().item<double>(), 2.0);
  }
  total = std::sqrt(total);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1) {
    for (const auto& p : params) {
      if (!p.grad().defined()) continue;
      if (p.grad().is_sparse()) {
        p.grad()._values().mul_(coef);
      } else {
        p.grad().mul_(coef);
      }
    }
  }
  return total;
}

float train_step(ClassifierImpl& model, torch::optim::Optimizer& optimizer, GradShards& shards,
                 const Batch& cpu_batch, std::uint64_t seed, std::int64_t step, double grad_clip) {
  // On the CPU the loader's batch as it is: nothing more on the step's path.
  const torch::Device device = device_of(model);
  Batch moved;
  const Batch& batch = device.is_cpu() ? cpu_batch : (moved = on_device(cpu_batch, device));
  const auto n = static_cast<float>(batch.size());
  const float loss = shards.backward([&](std::int64_t k) -> float {
    const Batch* part = &batch;
    if (!batch.parts.empty()) {
      part = nullptr;
      for (const Batch& p : batch.parts) {
        if (p.shard == k) part = &p;
      }
      if (part == nullptr || part->size() == 0) return 0.0f;  // adds zeros
    }
    model.set_random_step(seed, step, k);
    torch::Tensor logits = model.forward(*part);  // (n_k, C)
    torch::Tensor l = torch::nn::functional::cross_entropy(logits, part->labels);
    if (!batch.parts.empty()) l = l * (static_cast<float>(part->size()) / n);
    l.backward();
    return l.item<float>();
  });
  model.set_random_step(seed, step, 0);
  if (grad_clip > 0) clip_gradients(model.parameters(), grad_clip);
  optimizer.step();
  return loss;
}

std::string nondeterministic_op(const std::string& what) {
  const auto at = what.find(" does not have a deterministic implementation");
  if (at == std::string::npos) return "";
  const auto start = what.find_last_of(" \n\t'\"", at == 0 ? 0 : at - 1);
  return what.substr(start == std::string::npos ? 0 : start + 1,
                     at - (start == std::string::npos ? 0 : start + 1));
}

// Every rank's rows of per-batch sums (loss, correct, tp, fp, fn per class)
// added in batch order (batch b sits in row b / world of rank b % world):
// the same additions for any world size.
static EvalResult combine_batches(const std::vector<torch::Tensor>& all, std::int64_t batches,
                                  std::int64_t world, std::int64_t num_classes, std::int64_t n) {
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
  EvalResult r;
  r.n = n;
  r.loss = loss_sum / static_cast<double>(n);
  r.acc = static_cast<double>(correct) / static_cast<double>(n);
  double f1 = 0;
  for (std::int64_t c = 0; c < num_classes; ++c) {
    std::int64_t d = 2 * tp[c] + fp[c] + fn[c];
    f1 += d ? 2.0 * static_cast<double>(tp[c]) / static_cast<double>(d) : 0.0;
  }
  r.f1 = f1 / static_cast<double>(num_classes);
  return r;
}

EvalResult evaluate(ClassifierImpl& model, const EncodedSplit& split, const Config& cfg,
                    std::int64_t num_classes, Group* group) {
  if (split.size() == 0) return EvalResult{};
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
  const torch::Device device = device_of(model);
  auto one_batch = [&](const Batch& b, std::int64_t row) {
    Batch moved;
    const Batch& on = device.is_cpu() ? b : (moved = on_device(b, device));
    torch::Tensor logits = model.forward(on);  // (B, C)
    auto out = mine.accessor<double, 2>();
    out[row][0] = torch::nn::functional::cross_entropy(
                      logits, on.labels,
                      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
    torch::Tensor pred = logits.argmax(1).cpu();  // (B,)
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
  return combine_batches(group ? group->all_gather(mine) : std::vector<torch::Tensor>{mine},
                         batches, world, num_classes, split.size());
}

}  // namespace mltrain
