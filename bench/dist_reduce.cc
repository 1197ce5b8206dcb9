// The cost of the fixed-order reduction against a plain all-reduce, on the
// same gradients, over c10d/Gloo. Run as a rank (torchrun's variables, as
// bench/dist starts it):
//   dist_reduce NUMEL SHARDS ITERS
// Each rank holds the gradients of its shards (k % W == rank), NUMEL floats
// each. fixed-order: all-gather every shard's gradient, add the K of them in
// shard order (ml-train's scheme; the same bits for any W). all-reduce: add
// the local shards, all-reduce (Gloo's ring; its bits depend on W). Rank 0
// prints one JSON line: milliseconds per step of each (median of ITERS),
// whether the two sums are bitwise equal, and the bytes each rank sends.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mltrain/ranks.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: dist_reduce NUMEL SHARDS ITERS (as a rank)\n");
    return 2;
  }
  const std::int64_t numel = std::atoll(argv[1]);
  const std::int64_t shards = std::atoll(argv[2]);
  const int iters = std::atoi(argv[3]);
  const mltrain::RankEnv env = mltrain::rank_env_from_environment();
  std::unique_ptr<mltrain::Group> group;
  if (env.world > 1) group = mltrain::Group::connect(env, 300);
  const std::int64_t world = env.world;
  const std::int64_t slots = (shards + world - 1) / world;
  // Shard k's gradient: a pure function of k, the same on every rank.
  auto shard_grad = [&](std::int64_t k) {
    torch::manual_seed(1000 + k);
    return torch::randn({numel});
  };
  torch::Tensor payload = torch::zeros({slots, numel});
  std::vector<std::int64_t> mine;
  for (std::int64_t k = env.rank; k < shards; k += world) {
    payload[static_cast<std::int64_t>(mine.size())].copy_(shard_grad(k));
    mine.push_back(k);
  }
  std::vector<double> fixed_ms, reduce_ms;
  torch::Tensor fixed_sum, reduced;
  for (int it = 0; it < iters; ++it) {
    if (group) group->barrier();
    auto t0 = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> all =
        group ? group->all_gather(payload) : std::vector<torch::Tensor>{payload};
    fixed_sum = all[0][0].clone();
    for (std::int64_t k = 1; k < shards; ++k) fixed_sum.add_(all[k % world][k / world]);
    fixed_ms.push_back(ms_since(t0));

    if (group) group->barrier();
    t0 = std::chrono::steady_clock::now();
    reduced = payload[0].clone();
    for (std::size_t j = 1; j < mine.size(); ++j)
      reduced.add_(payload[static_cast<std::int64_t>(j)]);
    if (group) group->all_reduce_sum(&reduced);
    reduce_ms.push_back(ms_since(t0));
  }
  if (env.rank == 0) {
    const double mb = 4.0 * static_cast<double>(numel) / 1e6;
    std::printf(
        "{\"world\": %lld, \"shards\": %lld, \"numel\": %lld, \"fixed_order_ms\": %.3f, "
        "\"allreduce_ms\": %.3f, \"bitwise_equal\": %s, \"fixed_order_mb_received\": %.2f, "
        "\"ring_allreduce_mb_sent\": %.2f}\n",
        static_cast<long long>(world), static_cast<long long>(shards),
        static_cast<long long>(numel), median(fixed_ms), median(reduce_ms),
        torch::equal(fixed_sum, reduced) ? "true" : "false",
        mb * static_cast<double>(slots * (world - 1)),
        mb * 2.0 * static_cast<double>(world - 1) / static_cast<double>(world));
  }
  return 0;
}
