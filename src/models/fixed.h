// Internal: reductions over rows in a fixed split, so that their bits do not
// depend on the intra-op thread count. LibTorch's CPU LayerNorm backward sums
// the weight and bias gradients over the B x T rows in one buffer per thread,
// so 1 and 2 threads give different bits (the only such op `verify --vary
// runtime.threads=1,2,3` finds in the transformer), and its convolution's
// weight gradient (the cnn's) depends on it too. Here rows are summed in
// chunks of fixed size, each chunk by one thread, and the chunks added in
// order. The transformer and the cnn use them with `deterministic: true`.
#ifndef MLTRAIN_SRC_MODELS_FIXED_H_
#define MLTRAIN_SRC_MODELS_FIXED_H_

#include <torch/torch.h>

namespace mltrain {

constexpr std::int64_t kFixedRows = 64;

// LayerNorm over the last dimension (LibTorch's forward and input gradient,
// which are computed row by row) with the weight and bias gradients summed
// over rows in the fixed split.
torch::Tensor layer_norm_fixed(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, double eps);

// Conv1d, stride 1, padding (k - 1) / 2 (the cnn's): LibTorch's forward and
// input gradient; the weight gradient as a sum over fixed chunks of
// kFixedConvRows (sample, position) rows, each one matrix product, added in
// chunk order; the bias gradient by the fixed row sum.
constexpr std::int64_t kFixedConvRows = 1024;
torch::Tensor conv1d_fixed(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& bias);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_MODELS_FIXED_H_
