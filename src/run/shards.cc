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

GradShards::GradShards(const Run& run, std::vector<at::Tensor> parameters, std::int64_t shards,
                       std::vector<at::Tensor> sparse)
    : GradShards(run.group(), std::move(parameters), shards, std::move(sparse)) {}

GradShards::GradShards(Group* group, std::vector<at::Tensor> parameters, std::int64_t shards,
                       std::vector<at::Tensor> sparse)
    : group_(group), sparse_(std::move(sparse)), shards_(shards) {
  const int world = group_ ? group_->world() : 1;
  const int rank = group_ ? group_->rank() : 0;
  if (shards_ < world) {
    fail_usage("GradShards: " + std::to_string(shards_) + " gradient shards for " +
               std::to_string(world) +
               " ranks; each rank computes whole shards, so use at least as many shards as ranks");
  }
  auto is_sparse = [&](const at::Tensor& p) {
    for (const auto& s : sparse_) {
      if (s.is_same(p)) return true;
    }
    return false;
  };
  for (auto& p : parameters) {
    if (p.scalar_type() != torch::kFloat || p.device() != parameters.front().device()) {
      fail_usage("GradShards: every parameter must be float32 on one device (got " +
                 std::string(c10::toString(p.scalar_type())) + " on " + p.device().str() + ")");
    }
    if (is_sparse(p)) continue;
    total_ += p.numel();
    params_.push_back(p);
  }
  mine_ = shards_of_rank(shards_, rank, world);
}

at::Tensor distinct_rows(const at::Tensor& grad) {
  if (grad.is_coalesced()) return grad;
  const at::Tensor ids = grad._indices()[0].contiguous();
  const std::int64_t* id = ids.data_ptr<std::int64_t>();
  for (std::int64_t i = 1; i < ids.numel(); ++i) {
    if (id[i] <= id[i - 1]) return grad.coalesce();
  }
  return grad;
}

namespace {

// A sparse gradient's rows: ids ascending and distinct.
std::pair<at::Tensor, at::Tensor> rows_of(const at::Tensor& param, const at::Tensor& grad) {
  if (!grad.defined()) {
    auto sizes = param.sizes().vec();
    sizes[0] = 0;
    return {torch::empty({0}, torch::kLong), torch::empty(sizes, param.options())};
  }
  if (!grad.is_sparse() || grad.sparse_dim() != 1) {
    fail_usage(
        "GradShards: a parameter passed as sparse got a gradient that is not row-sparse "
        "(expected a sparse COO tensor with one sparse dimension)");
  }
  const at::Tensor g = distinct_rows(grad);
  return {g._indices()[0].contiguous(), g._values().contiguous()};
}

}  // namespace

float GradShards::backward(const std::function<float(std::int64_t shard)>& shard_backward) {
  gather_seconds_ = 0;
  if (shards_ == 1 && group_ == nullptr) {
    // One shard in one process: a plain backward. Gradients are dropped, not
    // zeroed: backward then stores each new one instead of adding it to
    // zeros (the same bits, one pass over every parameter less).
    for (auto& p : params_) p.mutable_grad().reset();
    for (auto& p : sparse_) p.mutable_grad().reset();
    const float loss = shard_backward(0);
    // A parameter the loss did not reach gets zeros, as zero_grad gave it.
    for (auto& p : params_) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    }
    for (std::size_t s = 0; s < sparse_.size(); ++s) {
      if (!sparse_[s].grad().defined()) add_sparse(s, {});  // no rows
    }
    return loss;
  }
  const std::int64_t world = group_ ? group_->world() : 1;
  // Row j of this rank's payload: shard mine_[j]'s gradient, then its loss.
  const std::int64_t slots = (shards_ + world - 1) / world;
  if (!payload_.defined()) {
    const auto options = params_.empty() && sparse_.empty()
                             ? torch::TensorOptions().dtype(torch::kFloat)
                             : (params_.empty() ? sparse_ : params_).front().options();
    payload_ = torch::empty({slots, total_ + 1}, options);
    sum_ = torch::empty({total_}, options);
  }
  mine_rows_.assign(static_cast<std::size_t>(slots), std::vector<Rows>(sparse_.size()));
  for (std::int64_t j = 0; j < slots; ++j) {
    torch::Tensor row = payload_[j];
    auto& rows = mine_rows_[static_cast<std::size_t>(j)];
    if (j >= static_cast<std::int64_t>(mine_.size())) {
      row.zero_();  // this rank has fewer shards than others: zeros
      for (std::size_t s = 0; s < sparse_.size(); ++s) {
        auto r = rows_of(sparse_[s], {});
        rows[s] = {r.first, r.second};
      }
      continue;
    }
    for (auto& p : params_) p.mutable_grad().reset();
    for (auto& p : sparse_) p.mutable_grad().reset();
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
    for (std::size_t s = 0; s < sparse_.size(); ++s) {
      auto r = rows_of(sparse_[s], sparse_[s].grad());
      rows[s] = {r.first, r.second};
    }
  }

  std::vector<torch::Tensor> all;
  std::vector<std::vector<Rows>> sparse_rows;
  {
    const auto t0 = std::chrono::steady_clock::now();
    if (group_ == nullptr) {
      all.push_back(payload_);
    } else {
      const bool on_cpu = payload_.device().is_cpu();
      all = group_->all_gather(on_cpu ? payload_ : payload_.cpu());
      if (!on_cpu) {
        for (auto& a : all) a = a.to(payload_.device());
      }
    }
    sparse_rows = gather_sparse(world);
    if (group_ != nullptr) {
      gather_seconds_ =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
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
  for (std::size_t s = 0; s < sparse_.size(); ++s) add_sparse(s, sparse_rows[s]);
  return loss;
}

std::vector<std::vector<GradShards::Rows>> GradShards::gather_sparse(std::int64_t world) {
  std::vector<std::vector<Rows>> out(sparse_.size(),
                                     std::vector<Rows>(static_cast<std::size_t>(shards_)));
  const auto slots = static_cast<std::int64_t>(mine_rows_.size());
  for (std::size_t s = 0; s < sparse_.size(); ++s) {
    if (group_ == nullptr) {
      for (std::int64_t k = 0; k < shards_; ++k) {
        out[s][static_cast<std::size_t>(k)] = mine_rows_[static_cast<std::size_t>(k)][s];
      }
      continue;
    }
    // Row counts first, then ids and values padded to the largest count.
    torch::Tensor counts = torch::empty({slots}, torch::kLong);
    for (std::int64_t j = 0; j < slots; ++j) {
      counts[j] = mine_rows_[static_cast<std::size_t>(j)][s].ids.numel();
    }
    const std::vector<torch::Tensor> all_counts = group_->all_gather(counts);
    std::int64_t most = 1;  // never a zero-size message
    for (const auto& c : all_counts) most = std::max(most, c.max().item<std::int64_t>());
    const torch::Tensor& v0 = mine_rows_.front()[s].values;
    auto sizes = v0.sizes().vec();
    sizes[0] = most;
    sizes.insert(sizes.begin(), slots);
    torch::Tensor ids = torch::full({slots, most}, -1, torch::kLong);
    torch::Tensor values = torch::zeros(sizes, v0.options().device(torch::kCPU));
    for (std::int64_t j = 0; j < slots; ++j) {
      const Rows& r = mine_rows_[static_cast<std::size_t>(j)][s];
      ids[j].narrow(0, 0, r.ids.numel()).copy_(r.ids);
      values[j].narrow(0, 0, r.ids.numel()).copy_(r.values);
    }
    const std::vector<torch::Tensor> all_ids = group_->all_gather(ids);
    const std::vector<torch::Tensor> all_values = group_->all_gather(values);
    for (std::int64_t k = 0; k < shards_; ++k) {
      const auto rank = static_cast<std::size_t>(k % world);
      const std::int64_t n = all_counts[rank][k / world].item<std::int64_t>();
      out[s][static_cast<std::size_t>(k)] = {
          all_ids[rank][k / world].narrow(0, 0, n),
          all_values[rank][k / world].narrow(0, 0, n).to(v0.device())};
    }
  }
  return out;
}

void GradShards::add_sparse(std::size_t s, const std::vector<Rows>& rows) {
  at::Tensor& p = sparse_[s];
  std::vector<at::Tensor> ids;
  for (const Rows& r : rows) ids.push_back(r.ids);
  // The rows any shard touched, ascending.
  const at::Tensor all = ids.empty() ? torch::empty({0}, torch::kLong)
                                     : std::get<0>(at::_unique(torch::cat(ids), /*sorted=*/true));
  auto sizes = p.sizes().vec();
  sizes[0] = all.numel();
  // The dense path's additions on these rows: shard 0's rows copied (zeros
  // elsewhere), then each later shard's rows added, zeros where it has none.
  at::Tensor sum = torch::zeros(sizes, p.options());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const at::Tensor at_rows = torch::searchsorted(all, rows[k].ids).to(p.device());
    if (k == 0) {
      sum.index_copy_(0, at_rows, rows[k].values);
    } else {
      at::Tensor part = torch::zeros(sizes, p.options());
      part.index_copy_(0, at_rows, rows[k].values);
      sum.add_(part);
    }
  }
  p.mutable_grad() = at::_sparse_coo_tensor_unsafe(all.unsqueeze(0).to(p.device()), sum, p.sizes(),
                                                   p.options().layout(torch::kSparse))
                         ._coalesced_(true);
}

}  // namespace mltrain
