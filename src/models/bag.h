// Internal: the mean of each bag of embedding rows (bow's EmbeddingBag,
// mode mean) with a faster backward pass than LibTorch's CPU kernel.
//
// The forward pass is LibTorch's own embedding_bag. The backward pass gives
// LibTorch's dense weight gradient bit for bit: each row sums its
// occurrences in the order LibTorch's kernel does (the order its unstable
// std::sort of the ids on (id, position) leaves equal ids in; the same
// std::sort on plain pairs gives the same order, several times faster than
// LibTorch's proxy iterators), each as one fused multiply-add of the bag's
// 1/size (rounded to float) and the output gradient, as its BLAS axpy does.
// Each row is computed by one thread, so the result does not depend on the
// thread count. BagMean.SameGradientAsLibTorch checks all of it against
// LibTorch's kernel (bags of any size, many repeated ids, 1-3 threads); the
// default run's state hash is unchanged by it.
#ifndef MLTRAIN_SRC_MODELS_BAG_H_
#define MLTRAIN_SRC_MODELS_BAG_H_

#include <torch/torch.h>

namespace mltrain {

// weight (V, D) float; tokens (N) int64 row ids; offsets (B) int64 bag
// starts, all on one device. Returns (B, D); an empty bag gives zeros. The
// backward pass above is the CPU's; on any other device this is
// bag_mean_native. sparse: the weight's gradient is a coalesced sparse COO
// tensor of the rows the tokens touch (ids ascending), each row the dense
// gradient's bits for it; its cost follows the tokens, not V.
torch::Tensor bag_mean(const torch::Tensor& weight, const torch::Tensor& tokens,
                       const torch::Tensor& offsets, bool sparse = false);

// LibTorch's embedding_bag (mode mean) and its own backward pass, on any
// device: what nn::EmbeddingBag computes, with the same parameter, so a
// state dict moves between devices unchanged.
torch::Tensor bag_mean_native(const torch::Tensor& weight, const torch::Tensor& tokens,
                              const torch::Tensor& offsets, bool sparse = false);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_MODELS_BAG_H_
