#include "run/dump.h"

#include <torch/torch.h>

#include "mltrain/torch_compat.h"
#include "repro/state_dict.h"

namespace mltrain {

TensorHashes param_hashes(const torch::nn::Module& model) {
  TensorHashes out;
  for (const auto& kv : ordered_state_dict(model))
    out.emplace_back(kv.first, tensor_sha256(kv.second));
  return out;
}

TensorHashes grad_hashes(const torch::nn::Module& model) {
  TensorHashes out;
  for (const auto& kv : ordered_state_dict(model)) {
    const torch::Tensor& p = kv.second;
    if (!p.requires_grad()) continue;
    out.emplace_back(kv.first, p.grad().defined() ? tensor_sha256(p.grad()) : "none");
  }
  return out;
}

TensorHashes optimizer_hashes(const torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  TensorHashes out;
  auto& state = optimizer.state();
  for (const auto& kv : ordered_state_dict(model)) {
    const torch::Tensor& p = kv.second;
    if (!p.requires_grad()) continue;
    auto it = state.find(optimizer_state_key(optimizer, p));
    if (it == state.end()) continue;
    auto* st = it->second.get();
    if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(st)) {
      out.emplace_back(kv.first + ".exp_avg", tensor_sha256(a->exp_avg()));
      out.emplace_back(kv.first + ".exp_avg_sq", tensor_sha256(a->exp_avg_sq()));
    } else if (auto* w = dynamic_cast<torch::optim::AdamWParamState*>(st)) {
      out.emplace_back(kv.first + ".exp_avg", tensor_sha256(w->exp_avg()));
      out.emplace_back(kv.first + ".exp_avg_sq", tensor_sha256(w->exp_avg_sq()));
    } else if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(st)) {
      if (s->momentum_buffer().defined()) {
        out.emplace_back(kv.first + ".momentum_buffer", tensor_sha256(s->momentum_buffer()));
      }
    } else if (auto* r = dynamic_cast<torch::optim::RMSpropParamState*>(st)) {
      out.emplace_back(kv.first + ".square_avg", tensor_sha256(r->square_avg()));
    } else if (auto* g = dynamic_cast<torch::optim::AdagradParamState*>(st)) {
      out.emplace_back(kv.first + ".sum", tensor_sha256(g->sum()));
    }
  }
  return out;
}

nlohmann::json dump_line(std::int64_t step, const std::string& phase, const TensorHashes& tensors) {
  nlohmann::json t = nlohmann::json::array();
  for (const auto& kv : tensors) t.push_back({kv.first, kv.second});
  return {{"step", step}, {"phase", phase}, {"tensors", t}};
}

}  // namespace mltrain
