// Internal: a module's state dict in PyTorch's order.
#ifndef MLTRAIN_SRC_REPRO_STATE_DICT_H_
#define MLTRAIN_SRC_REPRO_STATE_DICT_H_

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

#include "mltrain/state_hash.h"

namespace mltrain {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Parameters, then buffers, then children (recursively, prefixed "child.").
NamedTensors ordered_state_dict(const torch::nn::Module& module);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_REPRO_STATE_DICT_H_
