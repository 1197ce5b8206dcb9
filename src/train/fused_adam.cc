#include <ATen/Parallel.h>
#include <immintrin.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>

#include "mltrain/optim.h"
#include "mltrain/shards.h"
#include "mltrain/torch_compat.h"

namespace mltrain {
namespace {

struct AdamConsts {
  float l2, b1, c1, b2, c2, decay, step_size, inv_sqrt_bc2, eps;
};

// One element, in the order every path below computes it.
inline void adam_scalar(const AdamConsts& k, float* pp, const float* gp, float* mp, float* vp) {
  const float g = *gp + k.l2 * *pp;
  const float m = k.b1 * *mp + k.c1 * g;
  const float v = k.b2 * *vp + k.c2 * g * g;
  *mp = m;
  *vp = v;
  *pp = *pp * k.decay - k.step_size * m / (std::sqrt(v) * k.inv_sqrt_bc2 + k.eps);
}

void adam_range_scalar(const AdamConsts& k, std::int64_t begin, std::int64_t end, float* pp,
                       const float* gp, float* mp, float* vp) {
  for (std::int64_t i = begin; i < end; ++i) adam_scalar(k, pp + i, gp + i, mp + i, vp + i);
}

// Eight lanes at a time with the same operations in the same order: AVX's
// add, mul, div and sqrt round each lane exactly as the scalar ones do, and
// no multiply-add is fused (the target has no FMA), so the bits are those
// of adam_range_scalar.
__attribute__((target("avx2"))) void adam_range_avx2(const AdamConsts& k, std::int64_t begin,
                                                     std::int64_t end, float* pp, const float* gp,
                                                     float* mp, float* vp) {
  const __m256 l2 = _mm256_set1_ps(k.l2), b1 = _mm256_set1_ps(k.b1), c1 = _mm256_set1_ps(k.c1);
  const __m256 b2 = _mm256_set1_ps(k.b2), c2 = _mm256_set1_ps(k.c2);
  const __m256 decay = _mm256_set1_ps(k.decay), step = _mm256_set1_ps(k.step_size);
  const __m256 inv = _mm256_set1_ps(k.inv_sqrt_bc2), eps = _mm256_set1_ps(k.eps);
  std::int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256 p = _mm256_loadu_ps(pp + i);
    const __m256 g = _mm256_add_ps(_mm256_loadu_ps(gp + i), _mm256_mul_ps(l2, p));
    const __m256 m =
        _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(mp + i)), _mm256_mul_ps(c1, g));
    const __m256 v = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(vp + i)),
                                   _mm256_mul_ps(_mm256_mul_ps(c2, g), g));
    _mm256_storeu_ps(mp + i, m);
    _mm256_storeu_ps(vp + i, v);
    const __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(v), inv), eps);
    _mm256_storeu_ps(
        pp + i, _mm256_sub_ps(_mm256_mul_ps(p, decay), _mm256_div_ps(_mm256_mul_ps(step, m), den)));
  }
  adam_range_scalar(k, i, end, pp, gp, mp, vp);
}

// The same update with LibTorch tensor ops, for a parameter on any device:
// each op is one rounding per element (mul, add, sqrt, div; an add's alpha of
// 1 is exact even where it is fused), in the order of adam_scalar, so on the
// CPU it gives adam_scalar's bits (FusedAdam.TensorOpsGiveTheFusedBits) and
// on a GPU whose float ops round as IEEE 754 says, the same.
void adam_tensor_ops(const AdamConsts& k, torch::Tensor& p, const torch::Tensor& grad,
                     torch::Tensor& m, torch::Tensor& v) {
  const torch::Tensor g = grad + p * k.l2;
  m.mul_(k.b1).add_(g * k.c1);
  v.mul_(k.b2).add_(g * k.c2 * g);
  const torch::Tensor den = v.sqrt() * k.inv_sqrt_bc2 + k.eps;
  p.mul_(k.decay).sub_(m * k.step_size / den);
}

// Lazy Adam on the rows a sparse gradient touches, with the arithmetic of
// PyTorch's SparseAdam in its order (moments moved toward the gradient by
// (g - m) * (1 - beta), the update -step_size * (m / (sqrt(v) + eps))): the
// other rows' weights and moments stay as they are. k.step_size holds
// SparseAdam's negated step. One element:
inline void lazy_adam_scalar(const AdamConsts& k, float g, float* p, float* m, float* v) {
  const float m0 = *m, v0 = *v;
  const float mu = (g - m0) * k.c1;
  const float vu = (g * g - v0) * k.c2;
  *m = m0 + mu;
  *v = v0 + vu;
  *p = *p + k.step_size * ((mu + m0) / (std::sqrt(vu + v0) + k.eps));
}

void lazy_adam_row_scalar(const AdamConsts& k, std::int64_t dim, const float* g, float* p, float* m,
                          float* v) {
  for (std::int64_t d = 0; d < dim; ++d) lazy_adam_scalar(k, g[d], p + d, m + d, v + d);
}

// Eight lanes at a time, the same operations in the same order (no FMA):
// the scalar loop's bits.
__attribute__((target("avx2"))) void lazy_adam_row_avx2(const AdamConsts& k, std::int64_t dim,
                                                        const float* g, float* p, float* m,
                                                        float* v) {
  const __m256 c1 = _mm256_set1_ps(k.c1), c2 = _mm256_set1_ps(k.c2);
  const __m256 step = _mm256_set1_ps(k.step_size), eps = _mm256_set1_ps(k.eps);
  std::int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    const __m256 gd = _mm256_loadu_ps(g + d), m0 = _mm256_loadu_ps(m + d),
                 v0 = _mm256_loadu_ps(v + d);
    const __m256 mu = _mm256_mul_ps(_mm256_sub_ps(gd, m0), c1);
    const __m256 vu = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(gd, gd), v0), c2);
    _mm256_storeu_ps(m + d, _mm256_add_ps(m0, mu));
    _mm256_storeu_ps(v + d, _mm256_add_ps(v0, vu));
    const __m256 q = _mm256_div_ps(_mm256_add_ps(mu, m0),
                                   _mm256_add_ps(_mm256_sqrt_ps(_mm256_add_ps(vu, v0)), eps));
    _mm256_storeu_ps(p + d, _mm256_add_ps(_mm256_loadu_ps(p + d), _mm256_mul_ps(step, q)));
  }
  lazy_adam_row_scalar(k, dim - d, g + d, p + d, m + d, v + d);
}

using LazyAdamRow = void (*)(const AdamConsts&, std::int64_t, const float*, float*, float*, float*);

LazyAdamRow pick_lazy_adam_row() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? lazy_adam_row_avx2 : lazy_adam_row_scalar;
}

// Each row is computed by one thread, so the result does not depend on the
// thread count.
void lazy_adam_rows(const AdamConsts& k, const torch::Tensor& ids, const torch::Tensor& values,
                    torch::Tensor& p, torch::Tensor& m, torch::Tensor& v) {
  const std::int64_t n = ids.numel(), dim = values.numel() / std::max<std::int64_t>(n, 1);
  const std::int64_t* id = ids.data_ptr<std::int64_t>();
  const float* g = values.data_ptr<float>();
  float* pp = p.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  static const LazyAdamRow row = pick_lazy_adam_row();
  at::parallel_for(0, n, 64, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const std::int64_t base = id[r] * dim;
      row(k, dim, g + r * dim, pp + base, mp + base, vp + base);
    }
  });
}

using AdamRange = void (*)(const AdamConsts&, std::int64_t, std::int64_t, float*, const float*,
                           float*, float*);

AdamRange pick_adam_range() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? adam_range_avx2 : adam_range_scalar;
}

}  // namespace

FusedAdam::FusedAdam(const std::vector<torch::Tensor>& params,
                     const torch::optim::AdamOptions& options, bool decoupled, Kernel kernel)
    : torch::optim::Adam(params, options), decoupled_(decoupled), kernel_(kernel) {}

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
      TORCH_CHECK(p.scalar_type() == torch::kFloat && p.is_contiguous(),
                  "FusedAdam: expected contiguous float32 parameters");
      const bool sparse = p.grad().is_sparse();
      TORCH_CHECK(!sparse || (!decoupled_ && wd == 0 && p.device().is_cpu()),
                  "FusedAdam: a sparse gradient gets lazy Adam, on the CPU, without weight decay");
      torch::Tensor grad = sparse ? p.grad() : p.grad().contiguous();
      const auto key = optimizer_state_key<std::decay_t<decltype(state_)>>(p);
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
      AdamConsts k;
      k.step_size = static_cast<float>(lr / bc1);
      k.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
      k.b1 = static_cast<float>(beta1);
      k.b2 = static_cast<float>(beta2);
      k.c1 = static_cast<float>(1.0 - beta1);
      k.c2 = static_cast<float>(1.0 - beta2);
      k.eps = static_cast<float>(eps);
      k.l2 = decoupled_ ? 0.0f : static_cast<float>(wd);
      k.decay = decoupled_ ? static_cast<float>(1.0 - lr * wd) : 1.0f;
      if (sparse) {
        // SparseAdam's step: lr * sqrt(bc2) / bc1 in double, negated, in float.
        k.step_size = static_cast<float>(-(lr * std::sqrt(bc2) / bc1));
        const torch::Tensor g = distinct_rows(grad);
        lazy_adam_rows(k, g._indices()[0].contiguous(), g._values().contiguous(), p, st.exp_avg(),
                       st.exp_avg_sq());
        continue;
      }
      if (kernel_ == Kernel::kTensorOps || !p.device().is_cpu()) {
        adam_tensor_ops(k, p, grad, st.exp_avg(), st.exp_avg_sq());
        continue;
      }
      float* pp = p.data_ptr<float>();
      const float* gp = grad.data_ptr<float>();
      float* mp = st.exp_avg().data_ptr<float>();
      float* vp = st.exp_avg_sq().data_ptr<float>();
      // Element-wise: each index is computed by exactly one thread, so the
      // result is the same for any number of threads.
      static const AdamRange range = pick_adam_range();
      at::parallel_for(0, p.numel(), 1 << 15, [&](std::int64_t begin, std::int64_t end) {
        range(k, begin, end, pp, gp, mp, vp);
      });
    }
  }
  return loss;
}

}  // namespace mltrain
