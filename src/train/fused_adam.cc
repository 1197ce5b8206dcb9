#include "train/fused_adam.h"

#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <cmath>

namespace mltrain {

FusedAdam::FusedAdam(const std::vector<torch::Tensor>& params,
                     const torch::optim::AdamOptions& options, bool decoupled)
    : torch::optim::Adam(params, options), decoupled_(decoupled) {}

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = {};
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
    const double lr = o.lr(), wd = o.weight_decay(), eps = o.eps();
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(p.scalar_type() == torch::kFloat && p.is_contiguous() && p.is_cpu(),
                  "FusedAdam: expected contiguous float32 CPU parameters");
      torch::Tensor grad = p.grad().contiguous();
      auto key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
        it = state_.emplace(key, std::move(s)).first;
      }
      auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
      st.step(st.step() + 1);
      const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(st.step()));
      const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(st.step()));
      // p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), as LibTorch computes it.
      const float step_size = static_cast<float>(lr / bc1);
      const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
      const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
      const float c1 = static_cast<float>(1.0 - beta1), c2 = static_cast<float>(1.0 - beta2);
      const float feps = static_cast<float>(eps);
      const float l2 = decoupled_ ? 0.0f : static_cast<float>(wd);
      const float decay = decoupled_ ? static_cast<float>(1.0 - lr * wd) : 1.0f;
      float* pp = p.data_ptr<float>();
      const float* gp = grad.data_ptr<float>();
      float* mp = st.exp_avg().data_ptr<float>();
      float* vp = st.exp_avg_sq().data_ptr<float>();
      // Element-wise: each index is computed by exactly one thread, so the
      // result is the same for any number of threads.
      at::parallel_for(0, p.numel(), 1 << 15, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          const float g = gp[i] + l2 * pp[i];
          const float m = b1 * mp[i] + c1 * g;
          const float v = b2 * vp[i] + c2 * g * g;
          mp[i] = m;
          vp[i] = v;
          pp[i] = pp[i] * decay - step_size * m / (std::sqrt(v) * inv_sqrt_bc2 + feps);
        }
      });
    }
  }
  return loss;
}

}  // namespace mltrain
