// Internal: reductions over rows in a fixed split, so that their bits do not
// depend on the intra-op thread count. LibTorch's CPU LayerNorm backward sums
// the weight and bias gradients over the B x T rows in one buffer per thread,
// so 1 and 2 threads give different bits (the only such op `verify --vary
// runtime.threads=1,2,3` finds in the transformer), and its convolution's
// weight gradient (the cnn's) depends on it too. Here rows are summed in
// chunks of fixed size, each chunk by one thread, and the chunks added in
// order. The transformer and the cnn use them with `deterministic: true`.
//
// The fixed split is a CPU kernel. For tensors on another device (a GPU has
// no intra-op thread count to be invariant to) both functions are LibTorch's
// own op (layer_norm_native, conv1d_native): same forward, same parameters,
// gradients within rounding of the CPU's (FixedSplit.NativeOpsAgree).
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

// LibTorch's layer_norm over the last dimension and conv1d (stride 1,
// padding (k - 1) / 2) with their own backward passes, on any device.
torch::Tensor layer_norm_native(const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias, double eps);
torch::Tensor conv1d_native(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_MODELS_FIXED_H_
