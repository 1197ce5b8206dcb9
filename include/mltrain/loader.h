// The deterministic loader: batches that do not depend on num_workers.
//
// Epoch e visits the split in the order permutation(Stream(seed, "shuffle",
// e)) (or in file order when shuffle is off). Batch b holds positions
// [b*B, (b+1)*B) of that order. Token dropout for the sample at dataset index
// i in epoch e draws from Stream(seed, "sample", e, i). A batch is therefore
// a pure function of (seed, epoch, b): worker threads build batches in
// parallel and next() hands them out strictly in index order, so the result
// is bit-identical for any num_workers (G3), and a run resumed at (epoch, b)
// sees exactly the batches the interrupted run would have seen (G4).
#ifndef MLTRAIN_LOADER_H_
#define MLTRAIN_LOADER_H_

#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "mltrain/data.h"

namespace mltrain {

enum class BatchLayout {
  kBag,     // flat tokens + offsets, for EmbeddingBag
  kPadded,  // (B, T) tokens padded with Vocab::kPad + mask
};

struct Batch {
  torch::Tensor tokens;    // kBag: (N,) int64; kPadded: (B, T) int64
  torch::Tensor offsets;   // kBag: (B,) int64, start of each sample in tokens
  torch::Tensor mask;      // kPadded: (B, T) bool, true = real token
  torch::Tensor labels;    // (B,) int64
  std::int64_t index = 0;  // batch index within the epoch
  // Gradient shards (LoaderOptions::shards > 1): `parts` are the shards of
  // this batch that this rank computes, each a batch of its own with its
  // shard number in `shard`; `examples` is the whole batch's size. The
  // tensors above are then undefined.
  std::int64_t shard = 0;
  std::vector<Batch> parts;
  std::int64_t examples = 0;
  std::int64_t size() const { return parts.empty() ? labels.size(0) : examples; }
};

// The batch (and its parts) with its tensors on `device`: the loader builds
// batches on the CPU; a loop on a GPU moves each one before its forward.
// For the CPU it returns the batch's handles (no tensor data is copied); a
// loop that may run on either can skip the call there.
Batch on_device(const Batch& batch, const torch::Device& device);

// Positions [shard_begin, shard_end) of a batch of n examples that shard k
// of `shards` holds: k*n/K .. (k+1)*n/K (a shard may be empty when n < K).
inline std::int64_t shard_begin(std::int64_t n, std::int64_t k, std::int64_t shards) {
  return k * n / shards;
}

struct LoaderOptions {
  std::int64_t batch_size = 32;
  bool shuffle = true;
  std::uint64_t seed = 42;
  std::int64_t num_workers = 0;  // 0 = build batches on the caller's thread
  double token_dropout = 0.0;    // per-token drop probability (training only)
  BatchLayout layout = BatchLayout::kBag;
  std::int64_t prefetch = 4;  // batches built ahead per worker
  // Gradient shards: with shards K > 1 every batch is cut into K shards and
  // only those with k % world == rank are built (Batch::parts). A shard is a
  // pure function of (seed, epoch, b, k): padding, token dropout and order
  // do not depend on which rank builds it.
  std::int64_t shards = 1;
  std::int64_t rank = 0, world = 1;
};

class DeterministicLoader {
 public:
  DeterministicLoader(const EncodedSplit& split, const LoaderOptions& options);
  ~DeterministicLoader();
  DeterministicLoader(const DeterministicLoader&) = delete;
  DeterministicLoader& operator=(const DeterministicLoader&) = delete;

  std::int64_t num_batches() const;
  // Starts (or restarts) epoch `epoch` at batch `first_batch`; stops the
  // workers of any epoch in progress.
  void start_epoch(std::int64_t epoch, std::int64_t first_batch = 0);
  // The next batch in index order; false at the end of the epoch. Rethrows
  // an exception raised while building a batch.
  bool next(Batch* out);
  // Builds batch b of epoch e directly (what the workers call).
  Batch make_batch(std::int64_t epoch, std::int64_t b) const;
  // Sample order of epoch e.
  std::vector<std::int64_t> order(std::int64_t epoch) const;

 private:
  Batch build(std::int64_t epoch, const std::vector<std::int64_t>& ord, std::int64_t begin,
              std::int64_t end) const;
  void stop_workers();
  void worker_loop();

  const EncodedSplit& split_;
  LoaderOptions opt_;

  std::int64_t epoch_ = 0;
  std::int64_t next_index_ = 0;  // next batch next() returns
  std::vector<std::int64_t> order_;

  // Worker state, guarded by mu_.
  std::mutex mu_;
  std::condition_variable ready_cv_;  // a batch was built
  std::condition_variable space_cv_;  // the consumer moved on
  std::map<std::int64_t, Batch> built_;
  std::int64_t next_to_build_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;
};

}  // namespace mltrain

#endif  // MLTRAIN_LOADER_H_
