// Gradient shards (include/mltrain/shards.h): K shards per batch, their
// gradients gathered from the ranks and added in shard order.
#include "mltrain/shards.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>

#include "mltrain/error.h"
#include "mltrain/ranks.h"
#include "mltrain/rng.h"
#include "mltrain/run.h"

namespace mltrain {

ShardRows shard_rows(std::int64_t n, std::int64_t shard, std::int64_t shards) {
  if (shards < 1 || shard < 0 || shard >= shards || n < 0) {
    fail_usage("shard_rows: shard " + std::to_string(shard) + " of " + std::to_string(shards) +
               " of " + std::to_string(n) + " rows does not exist");
  }
  return {shard * n / shards, (shard + 1) * n / shards};
}

std::vector<std::int64_t> shards_of_rank(std::int64_t shards, int rank, int world) {
  std::vector<std::int64_t> out;
  for (std::int64_t k = rank; k < shards; k += world) out.push_back(k);
  return out;
}

at::Generator shard_generator(std::uint64_t seed, std::int64_t step, std::int64_t shard) {
  return at::make_generator<at::CPUGeneratorImpl>(stream_key(
      seed, "shard", static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(shard)));
}

GradShards::GradShards(const Run& run, std::vector<at::Tensor> parameters, std::int64_t shards)
    : GradShards(run.group(), std::move(parameters), shards) {}

GradShards::GradShards(Group* group, std::vector<at::Tensor> parameters, std::int64_t shards)
    : group_(group), params_(std::move(parameters)), shards_(shards) {
  const int world = group_ ? group_->world() : 1;
  const int rank = group_ ? group_->rank() : 0;
  if (shards_ < world) {
    fail_usage("GradShards: " + std::to_string(shards_) + " gradient shards for " +
               std::to_string(world) +
               " ranks; each rank computes whole shards, so use at least as many shards as ranks");
  }
  for (const auto& p : params_) {
    if (p.scalar_type() != torch::kFloat || p.device() != params_.front().device()) {
      fail_usage("GradShards: every parameter must be float32 on one device (got " +
                 std::string(c10::toString(p.scalar_type())) + " on " + p.device().str() + ")");
    }
    total_ += p.numel();
  }
  mine_ = shards_of_rank(shards_, rank, world);
}

float GradShards::backward(const std::function<float(std::int64_t shard)>& shard_backward) {
  gather_seconds_ = 0;
  if (shards_ == 1 && group_ == nullptr) {
    // One shard in one process: a plain backward. Gradients are dropped, not
    // zeroed: backward then stores each new one instead of adding it to
    // zeros (the same bits, one pass over every parameter less).
    for (auto& p : params_) p.mutable_grad().reset();
    const float loss = shard_backward(0);
    // A parameter the loss did not reach gets zeros, as zero_grad gave it.
    for (auto& p : params_) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    }
    return loss;
  }
  const std::int64_t world = group_ ? group_->world() : 1;
  // Row j of this rank's payload: shard mine_[j]'s gradient, then its loss.
  const std::int64_t slots = (shards_ + world - 1) / world;
  if (!payload_.defined()) {
    const auto options =
        params_.empty() ? torch::TensorOptions().dtype(torch::kFloat) : params_.front().options();
    payload_ = torch::empty({slots, total_ + 1}, options);
    sum_ = torch::empty({total_}, options);
  }
  for (std::int64_t j = 0; j < slots; ++j) {
    torch::Tensor row = payload_[j];
    if (j >= static_cast<std::int64_t>(mine_.size())) {
      row.zero_();  // this rank has fewer shards than others: zeros
      continue;
    }
    for (auto& p : params_) p.mutable_grad().reset();
    const float loss = shard_backward(mine_[static_cast<std::size_t>(j)]);
    std::int64_t off = 0;
    for (const auto& p : params_) {
      torch::Tensor slice = row.narrow(0, off, p.numel());
      if (p.grad().defined()) {
        slice.copy_(p.grad().reshape({-1}));
      } else {
        slice.zero_();  // a parameter this shard does not reach
      }
      off += p.numel();
    }
    row[total_] = loss;
  }

  std::vector<torch::Tensor> all;
  if (group_ == nullptr) {
    all.push_back(payload_);
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    const bool on_cpu = payload_.device().is_cpu();
    all = group_->all_gather(on_cpu ? payload_ : payload_.cpu());
    if (!on_cpu) {
      for (auto& a : all) a = a.to(payload_.device());
    }
    gather_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  // Shard k sits in row k / world of rank k % world's payload.
  auto shard_row = [&](std::int64_t k) {
    return all[static_cast<std::size_t>(k % world)][k / world];
  };
  sum_.copy_(shard_row(0).narrow(0, 0, total_));
  float loss = shard_row(0)[total_].item<float>();
  for (std::int64_t k = 1; k < shards_; ++k) {
    sum_.add_(shard_row(k).narrow(0, 0, total_));
    loss += shard_row(k)[total_].item<float>();
  }
  std::int64_t off = 0;
  for (auto& p : params_) {
    p.mutable_grad() = sum_.narrow(0, off, p.numel()).view(p.sizes());
    off += p.numel();
  }
  return loss;
}

}  // namespace mltrain
