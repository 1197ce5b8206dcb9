#include "mltrain/loader.h"

#include <torch/torch.h>

#include <algorithm>

#include "mltrain/rng.h"

namespace mltrain {

DeterministicLoader::DeterministicLoader(const EncodedSplit& split, const LoaderOptions& options)
    : split_(split), opt_(options) {}

DeterministicLoader::~DeterministicLoader() { stop_workers(); }

std::int64_t DeterministicLoader::num_batches() const {
  return (split_.size() + opt_.batch_size - 1) / opt_.batch_size;
}

std::vector<std::int64_t> DeterministicLoader::order(std::int64_t epoch) const {
  if (!opt_.shuffle) {
    std::vector<std::int64_t> o(static_cast<std::size_t>(split_.size()));
    for (std::size_t i = 0; i < o.size(); ++i) o[i] = static_cast<std::int64_t>(i);
    return o;
  }
  Stream s(opt_.seed, "shuffle", static_cast<std::uint64_t>(epoch));
  return permutation(split_.size(), &s);
}

Batch DeterministicLoader::make_batch(std::int64_t epoch, std::int64_t b) const {
  std::vector<std::int64_t> other_epoch;
  const std::vector<std::int64_t>* ordp = &order_;
  if (epoch != epoch_ || order_.empty()) {
    other_epoch = order(epoch);
    ordp = &other_epoch;
  }
  const std::vector<std::int64_t>& ord = *ordp;
  const std::int64_t begin = b * opt_.batch_size;
  const std::int64_t end = std::min<std::int64_t>(begin + opt_.batch_size, split_.size());
  if (opt_.shards <= 1) {
    Batch batch = build(epoch, ord, begin, end);
    batch.index = b;
    return batch;
  }
  Batch batch;
  batch.index = b;
  batch.examples = end - begin;
  for (std::int64_t k = opt_.rank; k < opt_.shards; k += opt_.world) {
    batch.parts.push_back(build(epoch, ord, begin + shard_begin(end - begin, k, opt_.shards),
                                begin + shard_begin(end - begin, k + 1, opt_.shards)));
    batch.parts.back().index = b;
    batch.parts.back().shard = k;
  }
  return batch;
}

Batch DeterministicLoader::build(std::int64_t epoch, const std::vector<std::int64_t>& ord,
                                 std::int64_t begin, std::int64_t end) const {
  const std::int64_t n = end - begin;

  // Token ids per sample after token dropout.
  std::vector<std::vector<std::int64_t>> samples(static_cast<std::size_t>(n));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t idx = ord[static_cast<std::size_t>(begin + k)];
    const TokenIds ids = split_.tokens(idx);
    auto& out = samples[static_cast<std::size_t>(k)];
    labels[static_cast<std::size_t>(k)] = split_.label(idx);
    if (opt_.token_dropout > 0) {
      Stream s(opt_.seed, "sample", static_cast<std::uint64_t>(epoch),
               static_cast<std::uint64_t>(idx));
      for (std::int32_t id : ids) {
        if (s.uniform() >= opt_.token_dropout) out.push_back(id);
      }
      if (out.empty() && !ids.empty()) out.push_back(ids[0]);
    } else {
      out.assign(ids.begin(), ids.end());
    }
    if (out.empty()) out.push_back(Vocab::kUnk);  // an empty text is one unknown token
  }

  Batch batch;
  batch.labels = torch::tensor(labels, torch::kInt64);
  if (opt_.layout == BatchLayout::kBag) {
    std::vector<std::int64_t> flat, offsets;
    offsets.reserve(static_cast<std::size_t>(n));
    for (const auto& s : samples) {
      offsets.push_back(static_cast<std::int64_t>(flat.size()));
      flat.insert(flat.end(), s.begin(), s.end());
    }
    batch.tokens = torch::tensor(flat, torch::kInt64);
    batch.offsets = torch::tensor(offsets, torch::kInt64);
  } else {
    std::size_t t = 1;
    for (const auto& s : samples) t = std::max(t, s.size());
    const auto T = static_cast<std::int64_t>(t);
    batch.tokens = torch::zeros({n, T}, torch::kInt64);  // (B, T), 0 = <pad>
    batch.mask = torch::zeros({n, T}, torch::kBool);     // (B, T)
    auto tok = batch.tokens.accessor<std::int64_t, 2>();
    auto msk = batch.mask.accessor<bool, 2>();
    for (std::int64_t k = 0; k < n; ++k) {
      const auto& s = samples[static_cast<std::size_t>(k)];
      for (std::size_t j = 0; j < s.size(); ++j) {
        tok[k][static_cast<std::int64_t>(j)] = s[j];
        msk[k][static_cast<std::int64_t>(j)] = true;
      }
    }
  }
  return batch;
}

void DeterministicLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  space_cv_.notify_all();
  ready_cv_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  built_.clear();
  stopping_ = false;
  error_ = nullptr;
}

void DeterministicLoader::start_epoch(std::int64_t epoch, std::int64_t first_batch) {
  stop_workers();
  epoch_ = epoch;
  order_ = order(epoch);
  next_index_ = first_batch;
  next_to_build_ = first_batch;
  for (std::int64_t w = 0; w < opt_.num_workers; ++w) {
    workers_.emplace_back([this] { worker_loop(); });
  }
}

void DeterministicLoader::worker_loop() {
  const std::int64_t window = std::max<std::int64_t>(1, opt_.prefetch) * opt_.num_workers;
  while (true) {
    std::int64_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_cv_.wait(lock, [&] {
        return stopping_ || next_to_build_ >= num_batches() ||
               next_to_build_ < next_index_ + window;
      });
      if (stopping_ || next_to_build_ >= num_batches()) return;
      b = next_to_build_++;
    }
    try {
      Batch batch = make_batch(epoch_, b);
      std::lock_guard<std::mutex> lock(mu_);
      built_.emplace(b, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    ready_cv_.notify_all();
  }
}

bool DeterministicLoader::next(Batch* out) {
  if (next_index_ >= num_batches()) return false;
  if (opt_.num_workers == 0) {
    *out = make_batch(epoch_, next_index_++);
    return true;
  }
  std::unique_lock<std::mutex> lock(mu_);
  ready_cv_.wait(lock, [&] { return error_ || built_.count(next_index_) > 0; });
  if (error_) std::rethrow_exception(error_);
  auto it = built_.find(next_index_);
  *out = std::move(it->second);
  built_.erase(it);
  ++next_index_;
  lock.unlock();
  space_cv_.notify_all();
  return true;
}

Batch on_device(const Batch& batch, const torch::Device& device) {
  if (device.is_cpu()) return batch;
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  Batch out;
  out.tokens = move(batch.tokens);
  out.offsets = move(batch.offsets);
  out.mask = move(batch.mask);
  out.labels = move(batch.labels);
  out.index = batch.index;
  out.shard = batch.shard;
  out.examples = batch.examples;
  for (const Batch& p : batch.parts) out.parts.push_back(on_device(p, device));
  return out;
}

}  // namespace mltrain
