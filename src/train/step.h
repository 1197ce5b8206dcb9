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

// One optimizer step on `batch`: dropout masks keyed by (seed, step), forward
// to logits (B, C), mean cross-entropy, backward, gradient clipping to
// `grad_clip` (global L2 norm; 0 = off), optimizer step. Returns the loss.
// The gradients stay in the parameters until the next step starts, so that
// the Run can fingerprint them.
float train_step(ClassifierImpl& model, torch::optim::Optimizer& optimizer, const Batch& batch,
                 std::uint64_t seed, std::int64_t step, double grad_clip);

struct EvalResult {
  double loss = 0, acc = 0, f1 = 0;  // mean loss, accuracy, macro-F1
  std::int64_t n = 0;
};

// The model on a whole split, in file order, batches of 128, in eval mode.
EvalResult evaluate(ClassifierImpl& model, const EncodedSplit& split, const Config& cfg,
                    std::int64_t num_classes);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_STEP_H_
