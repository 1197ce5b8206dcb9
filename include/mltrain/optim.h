// FusedAdam: Adam and AdamW with a fused, single-pass update, for any loop
// (the built-in trainer uses it for training.optimizer=adam and adamw).
//
// LibTorch's Adam updates a parameter with about ten element-wise tensor
// operations, each a pass over memory. For the bag-of-words model, whose
// 30000 x 64 embedding gets a dense gradient every step, those passes are
// most of the step time. FusedAdam does the same arithmetic in one pass per
// parameter (reading p, g, m, v once and writing p, m, v once), split over
// intra-op threads by index range, so the result does not depend on the
// thread count. The state (AdamParamState: step, exp_avg, exp_avg_sq) and
// its serialisation are LibTorch's own, so checkpoints are unchanged.
//
// A parameter whose gradient is sparse (a sparse COO tensor of rows, e.g.
// bow's table with model.sparse) gets lazy Adam instead: PyTorch's
// SparseAdam update on the rows the gradient touches only (same formula and
// order; the step count and bias correction are the parameter's), CPU only,
// without weight decay.
//
// Parameters on another device than the CPU (a GPU) are updated with the
// same arithmetic as LibTorch tensor ops on that device, one op per step of
// the scalar formula in its order (about ten passes, as torch::optim::Adam
// makes): the CPU's bits wherever the device's float add, mul, div and sqrt
// round as IEEE 754 says. Parameters must be contiguous float32 on any device.
#ifndef MLTRAIN_OPTIM_H_
#define MLTRAIN_OPTIM_H_

#include <torch/optim/adam.h>

#include <vector>

namespace mltrain {

class FusedAdam : public torch::optim::Adam {
 public:
  // How a parameter is updated: kAuto is the fused CPU loop for CPU tensors
  // and tensor ops for any other device; kTensorOps uses tensor ops for
  // every parameter (what tests use to compare the two on the CPU).
  enum class Kernel { kAuto, kTensorOps };

  // decoupled = true gives AdamW (weight decay applied to the weights, not
  // added to the gradient).
  FusedAdam(const std::vector<torch::Tensor>& params, const torch::optim::AdamOptions& options,
            bool decoupled, Kernel kernel = Kernel::kAuto);
  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  bool decoupled_;
  Kernel kernel_;
};

}  // namespace mltrain

#endif  // MLTRAIN_OPTIM_H_
