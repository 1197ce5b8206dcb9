#include "train/optim.h"

#include <torch/optim/adagrad.h>
#include <torch/optim/sgd.h>

#include "mltrain/optim.h"

namespace mltrain {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainingConfig& t,
                                                        const std::vector<torch::Tensor>& params) {
  if (t.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(t.lr).momentum(t.momentum).weight_decay(t.weight_decay));
  }
  if (t.optimizer == "adagrad") {
    // LibTorch's Adagrad: a sparse gradient updates its rows' sums only.
    return std::make_unique<torch::optim::Adagrad>(
        params, torch::optim::AdagradOptions(t.lr).weight_decay(t.weight_decay));
  }
  return std::make_unique<FusedAdam>(params,
                                     torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay),
                                     /*decoupled=*/t.optimizer == "adamw");
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

}  // namespace mltrain
