// Internal: the optimizers of the built-in trainer.
#ifndef MLTRAIN_SRC_TRAIN_OPTIM_H_
#define MLTRAIN_SRC_TRAIN_OPTIM_H_

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "mltrain/config.h"

namespace mltrain {

// sgd (LibTorch's, with momentum), adam or adamw (FusedAdam: lazy Adam for a sparse
// gradient), adagrad (LibTorch's; a sparse gradient updates its rows only).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainingConfig& t,
                                                        const std::vector<torch::Tensor>& params);

// Sets the learning rate of every parameter group.
void set_lr(torch::optim::Optimizer& opt, double lr);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_OPTIM_H_
