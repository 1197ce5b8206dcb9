// Internal: one training step and one evaluation pass of the built-in
// trainer. The loop around them is trainer.cc; what a step leaves on disk is
// the Run API's business.
#ifndef MLTRAIN_SRC_TRAIN_STEP_H_
#define MLTRAIN_SRC_TRAIN_STEP_H_

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>

#include "mltrain/config.h"
#include "mltrain/data.h"
#include "mltrain/loader.h"
#include "mltrain/models.h"
#include "mltrain/shards.h"

namespace mltrain {

class Group;

// One optimizer step on `batch` through `shards` (shards.h): with one
// gradient shard the batch's mean cross-entropy and its backward; with K
// shards (training.grad_shards) each of this rank's shards (batch.parts,
// built by the loader) with its dropout keyed by (seed, step, shard) and its
// loss weighted by n_k / n, the K gradients added in shard order. Then
// gradient clipping to `grad_clip` (global L2 norm; 0 = off) and the
// optimizer step, the same on every rank. Dropout masks of shard 0 are keyed
// by (seed, step). Returns the batch loss. The gradients stay in the
// parameters until the next step starts, so that the Run can fingerprint
// them.
// Scales the gradients so that their global L2 norm is at most max_norm
// (LibTorch's clip_grad_norm_, which the dense case calls; a sparse
// gradient's rows count and are scaled); returns the norm before.
double clip_gradients(const std::vector<torch::Tensor>& params, double max_norm);

float train_step(ClassifierImpl& model, torch::optim::Optimizer& optimizer, GradShards& shards,
                 const Batch& batch, std::uint64_t seed, std::int64_t step, double grad_clip);

// The op named by LibTorch's error for an op without a deterministic kernel
// under setDeterministicAlgorithms(true) ("OP does not have a deterministic
// implementation, but you set 'torch.use_deterministic_algorithms(True)'..."),
// or "" when `what` is another error.
std::string nondeterministic_op(const std::string& what);

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
