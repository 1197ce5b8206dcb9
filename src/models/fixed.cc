#include "models/fixed.h"

#include <ATen/Parallel.h>

#include <vector>

namespace mltrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Sums rows [0, m) of `rows` (row i's N values from row(i)) into out[N]:
// chunks of kFixedRows rows, each summed row by row by one thread, then the
// chunk sums added in chunk order.
template <typename RowFn>
void fixed_row_sum(std::int64_t m, std::int64_t n, RowFn row, float* out) {
  const std::int64_t chunks = (m + kFixedRows - 1) / kFixedRows;
  std::vector<float> partial(static_cast<std::size_t>(chunks * n), 0.0f);
  at::parallel_for(0, chunks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      float* acc = partial.data() + c * n;
      const std::int64_t last = std::min(m, (c + 1) * kFixedRows);
      for (std::int64_t i = c * kFixedRows; i < last; ++i) row(i, acc);
    }
  });
  for (std::int64_t j = 0; j < n; ++j) out[j] = 0.0f;
  for (std::int64_t c = 0; c < chunks; ++c) {
    const float* p = partial.data() + c * n;
    for (std::int64_t j = 0; j < n; ++j) out[j] += p[j];
  }
}

class LayerNormFixed : public torch::autograd::Function<LayerNormFixed> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias, double eps) {
    const torch::Tensor xc = x.contiguous();
    auto out = at::native_layer_norm(xc, {x.size(-1)}, weight, bias, eps);
    ctx->save_for_backward({xc, std::get<1>(out), std::get<2>(out), weight, bias});
    return std::get<0>(out);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto s = ctx->get_saved_variables();
    const torch::Tensor& x = s[0];
    const torch::Tensor mean = s[1].contiguous(), rstd = s[2].contiguous();
    const torch::Tensor dy = grads[0].contiguous();
    const std::int64_t n = x.size(-1), m = x.numel() / n;
    // The input gradient row by row (LibTorch's), without its thread-split
    // weight and bias sums.
    torch::Tensor dx = std::get<0>(
        at::native_layer_norm_backward(dy, x, {n}, mean, rstd, s[3], s[4], {true, false, false}));
    torch::Tensor dw = torch::empty({n}, x.options()), db = torch::empty({n}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* gp = dy.data_ptr<float>();
    const float* mp = mean.data_ptr<float>();
    const float* rp = rstd.data_ptr<float>();
    fixed_row_sum(
        m, n,
        [&](std::int64_t i, float* acc) {
          for (std::int64_t j = 0; j < n; ++j) {
            acc[j] += gp[i * n + j] * ((xp[i * n + j] - mp[i]) * rp[i]);
          }
        },
        dw.data_ptr<float>());
    fixed_row_sum(
        m, n,
        [&](std::int64_t i, float* acc) {
          for (std::int64_t j = 0; j < n; ++j) acc[j] += gp[i * n + j];
        },
        db.data_ptr<float>());
    return {dx, dw, db, torch::Tensor()};
  }
};

class Conv1dFixed : public torch::autograd::Function<Conv1dFixed> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    const std::int64_t pad = (weight.size(2) - 1) / 2;
    ctx->save_for_backward({x, weight, bias});
    return at::conv1d(x, weight, bias, {1}, {pad});
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto s = ctx->get_saved_variables();
    const torch::Tensor& x = s[0];
    const torch::Tensor& w = s[1];
    const torch::Tensor dy = grads[0].contiguous();  // (B, O, T)
    const std::int64_t k = w.size(2), pad = (k - 1) / 2;
    const std::int64_t B = x.size(0), I = x.size(1), T = x.size(2), O = w.size(0);
    torch::Tensor dx = std::get<0>(at::convolution_backward(dy, x, w, {{O}}, {1}, {pad}, {1}, false,
                                                            {0}, 1, {true, false, false}));
    // Rows (b, t): the input window (I * k) and the output gradient (O).
    torch::Tensor cols = torch::constant_pad_nd(x, {pad, pad})
                             .unfold(2, k, 1)        // (B, I, T, k)
                             .permute({0, 2, 1, 3})  // (B, T, I, k)
                             .reshape({B * T, I * k});
    torch::Tensor rows = dy.permute({0, 2, 1}).reshape({B * T, O});
    // One matrix product per chunk, each called inside a parallel region: a
    // BLAS that splits a product's inner dimension over its threads (MKL, in
    // PyTorch's own LibTorch, does for these tall products) runs single-
    // threaded there, so no chunk's bits depend on the thread count
    // (OpenBLAS splits only the outer ones: the same bits either way).
    // at::parallel_for runs a single item inline, outside any region, hence
    // at least two items.
    const std::int64_t chunks = (B * T + kFixedConvRows - 1) / kFixedConvRows;
    std::vector<torch::Tensor> parts(static_cast<std::size_t>(chunks));
    const std::int64_t items = std::max<std::int64_t>(chunks, 2);
    at::parallel_for(0, items, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t c = begin; c < std::min(end, chunks); ++c) {
        const std::int64_t r = c * kFixedConvRows, n = std::min(kFixedConvRows, B * T - r);
        parts[static_cast<std::size_t>(c)] =
            torch::mm(rows.narrow(0, r, n).t(), cols.narrow(0, r, n));  // (O, I * k)
      }
    });
    torch::Tensor dw = torch::zeros({O, I * k}, x.options());
    for (const auto& part : parts) dw += part;
    torch::Tensor db = torch::empty({O}, x.options());
    const float* gp = rows.data_ptr<float>();
    fixed_row_sum(
        B * T, O,
        [&](std::int64_t i, float* acc) {
          for (std::int64_t j = 0; j < O; ++j) acc[j] += gp[i * O + j];
        },
        db.data_ptr<float>());
    return {dx, dw.view({O, I, k}), db};
  }
};

}  // namespace

torch::Tensor conv1d_fixed(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& bias) {
  if (!x.device().is_cpu()) return conv1d_native(x, weight, bias);
  return Conv1dFixed::apply(x, weight, bias);
}

torch::Tensor layer_norm_fixed(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, double eps) {
  if (!x.device().is_cpu()) return layer_norm_native(x, weight, bias, eps);
  return LayerNormFixed::apply(x, weight, bias, eps);
}

torch::Tensor conv1d_native(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias) {
  return at::conv1d(x, weight, bias, {1}, {(weight.size(2) - 1) / 2});
}

torch::Tensor layer_norm_native(const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias, double eps) {
  return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

}  // namespace mltrain
