#include "models/bag.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace mltrain {
namespace {

// acc[d] = fma(s, g[d], acc[d]) for d < n: one rounding per element, as the
// BLAS axpy behind LibTorch's kernel computes it on FMA hardware.
__attribute__((target("avx2,fma"))) void axpy_fma_hw(std::int64_t n, float s, const float* g,
                                                     float* acc) {
  for (std::int64_t d = 0; d < n; ++d) acc[d] = __builtin_fmaf(s, g[d], acc[d]);
}

void axpy_fma_soft(std::int64_t n, float s, const float* g, float* acc) {
  for (std::int64_t d = 0; d < n; ++d) acc[d] = std::fma(s, g[d], acc[d]);
}

using Axpy = void (*)(std::int64_t, float, const float*, float*);

Axpy pick_axpy() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("fma") ? axpy_fma_hw : axpy_fma_soft;
}

class BagMean : public torch::autograd::Function<BagMean> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& weight,
                               const torch::Tensor& tokens, const torch::Tensor& offsets,
                               bool sparse) {
    ctx->save_for_backward({tokens, offsets});
    ctx->saved_data["rows"] = weight.size(0);
    ctx->saved_data["sparse"] = sparse;
    return std::get<0>(at::embedding_bag(weight, tokens, offsets, /*scale_grad_by_freq=*/false,
                                         /*mode=mean*/ 1));
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor tokens = saved[0].contiguous();
    const torch::Tensor offsets = saved[1].contiguous();
    const torch::Tensor grad = grads[0].contiguous();  // (B, D)
    const std::int64_t rows = ctx->saved_data["rows"].toInt();
    const bool sparse = ctx->saved_data["sparse"].toBool();
    const std::int64_t n = tokens.numel(), bags = offsets.numel(), dim = grad.size(1);
    const std::int64_t* tok = tokens.data_ptr<std::int64_t>();
    const std::int64_t* off = offsets.data_ptr<std::int64_t>();

    // Each occurrence's bag and scale (1/size in double, then float).
    std::vector<std::int32_t> bag_of(static_cast<std::size_t>(n));
    std::vector<float> scale(static_cast<std::size_t>(bags));
    for (std::int64_t b = 0; b < bags; ++b) {
      const std::int64_t end = b + 1 < bags ? off[b + 1] : n;
      const std::int64_t size = end - off[b];
      scale[static_cast<std::size_t>(b)] =
          static_cast<float>(size > 0 ? 1.0 / static_cast<double>(size) : 1.0);
      for (std::int64_t j = off[b]; j < end; ++j)
        bag_of[static_cast<std::size_t>(j)] = static_cast<std::int32_t>(b);
    }
    // Occurrences grouped by row, in the order LibTorch's kernel adds them:
    // its (unstable, deterministic) std::sort of (id, position) by id decides
    // the order of a row's occurrences, and with it the float sums.
    std::vector<std::pair<std::int64_t, std::int64_t>> keyed(static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) {
      TORCH_CHECK(tok[j] >= 0 && tok[j] < rows, "bag_mean: token id out of range");
      keyed[static_cast<std::size_t>(j)] = {tok[j], j};
    }
    std::sort(keyed.begin(), keyed.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    const float* g = grad.data_ptr<float>();
    static const Axpy axpy = pick_axpy();
    // Sum of the occurrences keyed[begin, end) (one row's) into out (zeroed).
    auto row_sum = [&](std::int64_t begin, std::int64_t end, float* out) {
      std::fill(out, out + dim, 0.0f);
      for (std::int64_t k = begin; k < end; ++k) {
        const std::int32_t b = bag_of[static_cast<std::size_t>(keyed[k].second)];
        axpy(dim, scale[static_cast<std::size_t>(b)], g + b * dim, out);
      }
    };
    if (sparse) return {sparse_gradient(keyed, rows, dim, grad.options(), row_sum), {}, {}, {}};
    // Row v's occurrences are keyed[start[v], start[v + 1]).
    std::vector<std::int64_t> start(static_cast<std::size_t>(rows) + 1, 0);
    for (const auto& kv : keyed) ++start[static_cast<std::size_t>(kv.first) + 1];
    for (std::int64_t v = 0; v < rows; ++v) start[v + 1] += start[v];
    // Every row is written by the one thread that owns it: zeros, then its
    // occurrences (one pass over the gradient instead of a memset and then
    // the sums).
    torch::Tensor gw = torch::empty({rows, dim}, grad.options());
    float* out = gw.data_ptr<float>();
    at::parallel_for(0, rows, 1024, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t v = begin; v < end; ++v) row_sum(start[v], start[v + 1], out + v * dim);
    });
    return {gw, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

 private:
  // The gradient of the rows the batch touched only: a coalesced sparse COO
  // tensor (ids ascending, one values row each, the dense gradient's bits
  // for that row). Work and memory follow the tokens, not the rows.
  template <typename RowSum>
  static torch::Tensor sparse_gradient(
      const std::vector<std::pair<std::int64_t, std::int64_t>>& keyed, std::int64_t rows,
      std::int64_t dim, const torch::TensorOptions& options, const RowSum& row_sum) {
    std::vector<std::int64_t> first;  // where each distinct id starts in keyed
    for (std::size_t k = 0; k < keyed.size(); ++k) {
      if (k == 0 || keyed[k].first != keyed[k - 1].first)
        first.push_back(static_cast<std::int64_t>(k));
    }
    const auto unique = static_cast<std::int64_t>(first.size());
    first.push_back(static_cast<std::int64_t>(keyed.size()));
    torch::Tensor ids = torch::empty({1, unique}, torch::kLong);
    torch::Tensor values = torch::empty({unique, dim}, options);
    std::int64_t* id = ids.data_ptr<std::int64_t>();
    float* out = values.data_ptr<float>();
    at::parallel_for(0, unique, 256, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t u = begin; u < end; ++u) {
        id[u] = keyed[static_cast<std::size_t>(first[u])].first;
        row_sum(first[u], first[u + 1], out + u * dim);
      }
    });
    return at::_sparse_coo_tensor_unsafe(ids, values, {rows, dim}, options.layout(torch::kSparse))
        ._coalesced_(true);
  }
};

}  // namespace

torch::Tensor bag_mean(const torch::Tensor& weight, const torch::Tensor& tokens,
                       const torch::Tensor& offsets, bool sparse) {
  if (!weight.device().is_cpu()) return bag_mean_native(weight, tokens, offsets, sparse);
  return BagMean::apply(weight, tokens, offsets, sparse);
}

torch::Tensor bag_mean_native(const torch::Tensor& weight, const torch::Tensor& tokens,
                              const torch::Tensor& offsets, bool sparse) {
  return std::get<0>(at::embedding_bag(weight, tokens, offsets, /*scale_grad_by_freq=*/false,
                                       /*mode=mean*/ 1, sparse));
}

}  // namespace mltrain
