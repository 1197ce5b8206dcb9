// Text classifiers: bow (fastText-like), cnn, transformer.
//
// Every model maps a Batch to logits (B, C). Parameters are initialised from
// LibTorch's CPU generator, so seed_everything must run before construction.
// Dropout does not use that generator: each dropout site draws its mask from
// the counter-based stream (seed, "dropout", step, site), or for gradient
// shard k > 0 of the step (seed, "dropout", step, site + k * 2^32): value n of the
// stream decides elements 2n and 2n+1 (its low and high 32 bits). The mask
// is therefore a pure function of the seed, the training step and the site,
// whatever the thread count, and a resumed run needs no generator state.
#ifndef MLTRAIN_MODELS_H_
#define MLTRAIN_MODELS_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mltrain/config.h"
#include "mltrain/loader.h"

namespace mltrain {

// Which draw the model's dropout sites make: set once per training step.
struct DropoutContext {
  std::uint64_t seed = 0;
  std::int64_t step = 0;
  std::int64_t shard = 0;  // gradient shard of the step (training.grad_shards)
};

// Inverted dropout (x * mask / (1 - p)) with the mask from stream `key`:
// element e (in row-major order of x's sizes) is kept when its 32-bit draw
// is >= p * 2^32. On the CPU a loop parallel over elements fills the mask; on
// any other device stream_dropout_mask_tensor_ops builds it there. Either
// way each element's draw depends only on (key, element index), so the mask
// has the same bits on every device and for any thread count.
torch::Tensor stream_dropout(const torch::Tensor& x, double p, std::uint64_t key);

// The mask stream_dropout multiplies by (float, `sizes`, on `device`): 0 or
// 1 / (1 - p) rounded to float, computed with LibTorch tensor ops (SplitMix64
// in int64 arithmetic, which wraps like uint64, with logical right shifts
// made from arithmetic ones by masking). What a GPU uses; it gives the CPU
// loop's bits (StreamDropout.TensorOpsGiveTheLoopsMask).
torch::Tensor stream_dropout_mask_tensor_ops(torch::IntArrayRef sizes, torch::Device device,
                                             double p, std::uint64_t key);

class StreamDropoutImpl : public torch::nn::Module {
 public:
  StreamDropoutImpl(double p, std::int64_t site, std::shared_ptr<const DropoutContext> ctx);
  // Identity in eval mode or when p == 0.
  torch::Tensor forward(const torch::Tensor& x);

 private:
  double p_;
  std::int64_t site_;
  std::shared_ptr<const DropoutContext> ctx_;
};
TORCH_MODULE(StreamDropout);

class ClassifierImpl : public torch::nn::Module {
 public:
  // Returns logits (B, C).
  virtual torch::Tensor forward(const Batch& batch) = 0;
  // The coming forward passes are training step `step` of a run seeded with
  // `seed`: dropout masks come from (seed, "dropout", step, site); for
  // gradient shard k > 0 of the step from (seed, "dropout", step, site +
  // k * 2^32), whichever rank computes the shard.
  void set_random_step(std::uint64_t seed, std::int64_t step, std::int64_t shard = 0) {
    ctx_->seed = seed;
    ctx_->step = step;
    ctx_->shard = shard;
  }
  // The parameters whose gradients are row-sparse (sparse COO tensors of
  // the rows a batch touched: bow's embedding table with model.sparse), for
  // GradShards and the optimizer; empty for a dense model.
  virtual std::vector<torch::Tensor> sparse_parameters() const { return {}; }

 protected:
  // A new dropout site (sites are numbered in construction order).
  StreamDropout make_dropout(double p) { return StreamDropout(p, next_site_++, ctx_); }
  std::shared_ptr<DropoutContext> ctx_ = std::make_shared<DropoutContext>();
  std::int64_t next_site_ = 0;
};

// EmbeddingBag (mean) -> Linear -> ReLU -> Dropout -> Linear; with hidden_dim 0,
// EmbeddingBag (mean) -> Dropout -> Linear (fastText's linear model).
class BowClassifierImpl : public ClassifierImpl {
 public:
  BowClassifierImpl(const ModelConfig& cfg, std::int64_t vocab, std::int64_t classes);
  torch::Tensor forward(const Batch& batch) override;
  std::vector<torch::Tensor> sparse_parameters() const override;

 private:
  bool sparse_ = false;
  torch::nn::EmbeddingBag embed_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  StreamDropout drop_{nullptr};
};

// Embedding -> num_layers x (Conv1d k=3 + ReLU) -> masked max-pool -> Linear.
class CnnClassifierImpl : public ClassifierImpl {
 public:
  // fixed: convolutions whose weight and bias gradients are summed in a fixed
  // split (models/fixed.h; make_classifier sets it for deterministic runs).
  CnnClassifierImpl(const ModelConfig& cfg, std::int64_t vocab, std::int64_t classes,
                    bool fixed = false);
  torch::Tensor forward(const Batch& batch) override;

 private:
  bool fixed_;
  torch::nn::Embedding embed_{nullptr};
  torch::nn::ModuleList convs_;
  std::vector<std::string> conv_names_;  // "convs.0", ... for the probes
  StreamDropout drop_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// One post-norm encoder layer, the same computation as PyTorch's
// nn.TransformerEncoderLayer (ReLU, dropout on attention weights, after
// attention and inside and after the feed-forward block), written batch-first
// with fused QKV so that no attention weights are averaged or transposed for
// nothing.
class EncoderLayerImpl : public torch::nn::Module {
 public:
  // drops: the layer's four dropout sites (attention weights, attention
  // output, feed-forward inner, feed-forward output). name: the layer's
  // module path ("layers.0"), for its probes (probe.h). fixed: layer norms
  // whose weight and bias gradients are summed over rows in a fixed split
  // (models/fixed.h: the same bits for any intra-op thread count; used with
  // `deterministic: true`).
  EncoderLayerImpl(std::int64_t dim, std::int64_t heads, std::int64_t ff,
                   std::vector<StreamDropout> drops, std::string name = "layer",
                   bool fixed = false);
  // x: (B, T, E); pad: (B, 1, 1, T) float, 0 for tokens and -inf for
  // padding. Returns (B, T, E).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pad);

 private:
  torch::Tensor norm(torch::nn::LayerNorm& n, const torch::Tensor& x);

  std::int64_t heads_;
  bool fixed_;
  std::vector<StreamDropout> drops_;
  // Probe names ("layers.0.self_attn", ...), built once: forward is hot.
  std::string attn_name_, norm1_name_, ff1_name_, ff2_name_, norm2_name_;
  torch::nn::Linear qkv_{nullptr}, out_{nullptr}, ff1_{nullptr}, ff2_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
};
TORCH_MODULE(EncoderLayer);

// Token + learned position embeddings -> num_layers x EncoderLayer
// (num_heads, feed-forward hidden_dim) -> masked mean pool -> Linear.
class TransformerClassifierImpl : public ClassifierImpl {
 public:
  // fixed: see EncoderLayerImpl (make_classifier sets it for deterministic runs).
  TransformerClassifierImpl(const ModelConfig& cfg, std::int64_t vocab, std::int64_t classes,
                            std::int64_t max_len, bool fixed = false);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::nn::Embedding embed_{nullptr}, pos_{nullptr};
  torch::nn::ModuleList layers_;
  StreamDropout drop_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// The model for cfg.model.arch.
std::shared_ptr<ClassifierImpl> make_classifier(const Config& cfg, std::int64_t vocab,
                                                std::int64_t classes);

// The batch layout the architecture consumes.
BatchLayout layout_for(const std::string& arch);

}  // namespace mltrain

#endif  // MLTRAIN_MODELS_H_
