// Internal: a module's state dict in PyTorch's order.
#ifndef MLTRAIN_SRC_REPRO_STATE_DICT_H_
#define MLTRAIN_SRC_REPRO_STATE_DICT_H_

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace mltrain {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Parameters, then buffers, then children (recursively, prefixed "child.").
NamedTensors ordered_state_dict(const torch::nn::Module& module);

// sha256 hex of one tensor's contiguous CPU bytes.
std::string tensor_sha256(const torch::Tensor& t);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_REPRO_STATE_DICT_H_
