// Internal: one training step and one evaluation pass of the built-in
// trainer. The loop around them is trainer.cc; what a step leaves on disk is
// the Run API's business.
#ifndef MLTRAIN_SRC_TRAIN_STEP_H_
#define MLTRAIN_SRC_TRAIN_STEP_H_

#include <torch/optim/optimizer.h>

#include <cstdint>

#include "mltrain/config.h"
#include "mltrain/data.h"
#include "mltrain/loader.h"
#include "mltrain/models.h"

namespace mltrain {

class Group;

// One optimizer step on `batch`: dropout masks keyed by (seed, step), forward
// to logits (B, C), mean cross-entropy, backward, gradient clipping to
// `grad_clip` (global L2 norm; 0 = off), optimizer step. Returns the loss.
// The gradients stay in the parameters until the next step starts, so that
// the Run can fingerprint them.
float train_step(ClassifierImpl& model, torch::optim::Optimizer& optimizer, const Batch& batch,
                 std::uint64_t seed, std::int64_t step, double grad_clip);

// One optimizer step of a batch cut into `shards` gradient shards
// (training.grad_shards > 1), of which this rank holds batch.parts (shards k
// with k % world == rank). Each shard's loss is its mean cross-entropy times
// n_k / n, its dropout keyed by (seed, step, k); its gradient (zeros for a
// parameter it does not reach) and loss go into one row of a payload, the
// ranks' payloads are all-gathered (`group`; none when world == 1), and
// every rank adds the K gradients and losses in shard order, 0, 1, ..., K-1:
// the same additions whatever the world size. Then clipping and the
// optimizer step, identical on every rank. Returns the summed loss;
// *comm_seconds gets the time spent gathering.
// `scratch` keeps the payload and the summed gradient (which the parameters'
// gradients view) from one step to the next: no allocation per step.
struct ShardScratch {
  torch::Tensor payload, sum;
};
float train_step_sharded(ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                         const Batch& batch, std::int64_t shards, Group* group, std::uint64_t seed,
                         std::int64_t step, double grad_clip, ShardScratch* scratch,
                         double* comm_seconds);

struct EvalResult {
  double loss = 0, acc = 0, f1 = 0;  // mean loss, accuracy, macro-F1
  std::int64_t n = 0;
};

// The model on a whole split, in file order, batches of 128, in eval mode.
// With a group every rank calls it: rank r evaluates batches b % world == r,
// the per-batch sums are all-gathered and added in batch order, so every
// rank gets the single-process result bit for bit.
EvalResult evaluate(ClassifierImpl& model, const EncodedSplit& split, const Config& cfg,
                    std::int64_t num_classes, Group* group = nullptr);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_STEP_H_
