// Internal: per-tensor fingerprints for divergence localisation. When the
// control contract asks for a dump (run/control.h), the Run writes one JSON
// line per (step, phase) with the sha256 of every tensor of that phase:
//   {"step": S, "phase": "input"|"grad"|"optimizer"|"param",
//    "tensors": [[name, sha256], ...]}
// Phases of a step, in order: the inputs the loop recorded, the gradients the
// optimizer used, the optimizer state after the step, the parameters after
// the step. Step 0's "param" line holds the weights training starts from.
// Comparing two dumps line by line finds the first diverging tensor.
#ifndef MLTRAIN_SRC_RUN_DUMP_H_
#define MLTRAIN_SRC_RUN_DUMP_H_

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace mltrain {

using TensorHashes = std::vector<std::pair<std::string, std::string>>;

// Parameters and buffers, in state-dict order.
TensorHashes param_hashes(const torch::nn::Module& model);
// Gradients of the trainable parameters ("none" where a parameter has none).
TensorHashes grad_hashes(const torch::nn::Module& model);
// The optimizer's per-parameter state (Adam moments, SGD momentum), named
// after the parameter: "fc.weight.exp_avg".
TensorHashes optimizer_hashes(const torch::nn::Module& model, torch::optim::Optimizer& optimizer);

nlohmann::json dump_line(std::int64_t step, const std::string& phase, const TensorHashes& tensors);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_RUN_DUMP_H_
