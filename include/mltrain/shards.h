// Gradient shards: data-parallel training whose bits do not depend on the
// number of ranks.
//
// Each batch is cut into a fixed number K of shards (part of the run's
// identity: K changes the floating-point sums, the number of ranks does
// not). Rank r of W computes the shards k with k % W == r, each with its own
// forward and backward; the shards' gradients are gathered from every rank
// and added in shard order 0, 1, ..., K-1 on every rank. One process with K
// shards performs exactly the same additions, so 1, 2, ... K ranks give the
// same gradients, the same optimizer steps and the same state hash. There
// is no ring all-reduce, whose order of additions depends on the world size.
//
//   mltrain::GradShards shards(run, model->parameters(), K);
//   ...
//   const float loss = shards.backward([&](std::int64_t k) {
//     const mltrain::ShardRows rows = mltrain::shard_rows(n, k, K);    // rows [begin, end)
//     torch::Tensor x = inputs.slice(0, rows.begin, rows.end);          // (n_k, D)
//     at::Generator gen = mltrain::shard_generator(run.seed(), step, k);  // dropout of shard k
//     torch::Tensor l = loss_fn(model(x, gen), targets.slice(0, rows.begin, rows.end)) *
//                       (double(rows.size()) / n);  // shard k's share of the batch mean
//     l.backward();
//     return l.item<float>();
//   });
//   optimizer.step();                // every rank applies the same gradient
//   run.record_step(loss, lr);
//
// Randomness inside a shard (dropout, augmentation) must depend on the shard,
// not on the rank that computes it: shard_generator() gives a generator per
// (seed, step, shard). Gradient clipping, if any, goes between backward()
// and optimizer.step(), as in a single process.
//
// Row-sparse gradients (an embedding table's sparse COO gradient, e.g.
// model.sparse, or nn::Embedding with sparse(true)) are passed as `sparse`:
// they are gathered as the rows each shard touched, never as the whole
// table, and added in shard order with the dense path's float additions (a
// row a shard did not touch adds zeros), so the result is a coalesced sparse
// gradient with the same bits for any number of ranks.
#ifndef MLTRAIN_SHARDS_H_
#define MLTRAIN_SHARDS_H_

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace mltrain {

class Group;
class Run;

// Rows [begin, end) of shard `shard` of a batch of n rows cut into `shards`:
// begin = shard * n / shards (integer division). Shards differ in size by at
// most one row; with n < shards some are empty.
struct ShardRows {
  std::int64_t begin = 0, end = 0;
  std::int64_t size() const { return end - begin; }
};
ShardRows shard_rows(std::int64_t n, std::int64_t shard, std::int64_t shards);

// The shards rank `rank` of `world` computes, in order: rank, rank + world, ...
std::vector<std::int64_t> shards_of_rank(std::int64_t shards, int rank, int world);

// A CPU generator for the randomness of shard `shard` at training step
// `step` (1-based, the step record_step() will record), seeded from the
// counter-based stream (seed, "shard", step, shard): the same whichever rank
// computes the shard, and nothing to save in checkpoints.
at::Generator shard_generator(std::uint64_t seed, std::int64_t step, std::int64_t shard);

// A row-sparse gradient (sparse COO, one sparse dimension) with distinct,
// ascending row ids: `grad` itself when its ids already are (LibTorch's
// coalesced flag need not have survived: autograd drops it when it stores a
// gradient), else grad.coalesce(). Costs what the rows cost.
at::Tensor distinct_rows(const at::Tensor& grad);

class GradShards {
 public:
  // `parameters`: the tensors the optimizer updates, in a fixed order (e.g.
  // model->parameters()); float32, all on one device. `shards` >= the number
  // of ranks (else Error, exit 2, naming the numbers). The ranks are run's.
  // `sparse`: those of `parameters` whose gradients are sparse COO tensors
  // (float32 values; a shard that does not reach one gives no rows).
  GradShards(const Run& run, std::vector<at::Tensor> parameters, std::int64_t shards,
             std::vector<at::Tensor> sparse = {});
  // The same with an explicit connection (null = one process).
  GradShards(Group* group, std::vector<at::Tensor> parameters, std::int64_t shards,
             std::vector<at::Tensor> sparse = {});

  std::int64_t shards() const { return shards_; }
  // The shards this rank computes (shards_of_rank for its rank and world).
  const std::vector<std::int64_t>& mine() const { return mine_; }

  // One step's gradient. For each of this rank's shards k, in order: clears
  // the parameters' gradients and calls shard_backward(k), which runs shard
  // k's forward and backward (its loss weighted by its share of the batch)
  // and returns that loss. Then gathers every rank's shard gradients and
  // adds them in shard order into the parameters' .grad (a parameter a shard
  // did not reach adds zeros; an empty shard adds zeros: return 0 without a
  // backward). Returns the sum of the K losses, added in shard order: the
  // batch loss, the same on every rank. With one shard and one process it
  // is a plain backward (the gradients stay where backward put them).
  float backward(const std::function<float(std::int64_t shard)>& shard_backward);

  // Seconds the last backward() spent gathering from the other ranks.
  double gather_seconds() const { return gather_seconds_; }

 private:
  struct Rows {              // one shard's sparse gradient of one parameter
    at::Tensor ids, values;  // (n) int64 ascending, (n, ...) float
  };
  // Adds the K shards' rows of sparse parameter s (shard k's in rows[k]) in
  // shard order into its .grad.
  void add_sparse(std::size_t s, const std::vector<Rows>& rows);
  // Every shard's rows of every sparse parameter, this rank's (mine_rows_)
  // and the other ranks': out[s][k] is shard k's rows of parameter s.
  std::vector<std::vector<Rows>> gather_sparse(std::int64_t world);

  Group* group_;
  std::vector<at::Tensor> params_;            // dense gradients, in the payload
  std::vector<at::Tensor> sparse_;            // row-sparse gradients
  std::vector<std::vector<Rows>> mine_rows_;  // [slot][sparse parameter]
  std::int64_t shards_, total_ = 0;
  std::vector<std::int64_t> mine_;
  at::Tensor payload_, sum_;  // kept between steps: no allocation per step
  double gather_seconds_ = 0;
};

}  // namespace mltrain

#endif  // MLTRAIN_SHARDS_H_
