// Text classifiers: bow (fastText-like), cnn, transformer.
//
// Every model maps a Batch to logits (B, C). Parameters are initialised from
// LibTorch's CPU generator, so seed_everything must run before construction.
#ifndef MLTRAIN_MODELS_H_
#define MLTRAIN_MODELS_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>

#include <memory>

#include "mltrain/config.h"
#include "mltrain/loader.h"

namespace mltrain {

class ClassifierImpl : public torch::nn::Module {
 public:
  // Returns logits (B, C).
  virtual torch::Tensor forward(const Batch& batch) = 0;
};

// EmbeddingBag (mean) -> Linear -> ReLU -> Dropout -> Linear.
class BowClassifierImpl : public ClassifierImpl {
 public:
  BowClassifierImpl(const ModelConfig& cfg, std::int64_t vocab, std::int64_t classes);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::nn::EmbeddingBag embed_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Dropout drop_{nullptr};
};

// Embedding -> num_layers x (Conv1d k=3 + ReLU) -> masked max-pool -> Linear.
class CnnClassifierImpl : public ClassifierImpl {
 public:
  CnnClassifierImpl(const ModelConfig& cfg, std::int64_t vocab, std::int64_t classes);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::nn::Embedding embed_{nullptr};
  torch::nn::ModuleList convs_;
  torch::nn::Dropout drop_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// One post-norm encoder layer, the same computation as PyTorch's
// nn.TransformerEncoderLayer (ReLU, dropout on attention weights, after
// attention and inside and after the feed-forward block), written batch-first
// with fused QKV so that no attention weights are averaged or transposed for
// nothing.
class EncoderLayerImpl : public torch::nn::Module {
 public:
  EncoderLayerImpl(std::int64_t dim, std::int64_t heads, std::int64_t ff, double dropout);
  // x: (B, T, E); pad: (B, 1, 1, T) bool, true = padding. Returns (B, T, E).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pad);

 private:
  std::int64_t heads_;
  double dropout_;
  torch::nn::Linear qkv_{nullptr}, out_{nullptr}, ff1_{nullptr}, ff2_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
};
TORCH_MODULE(EncoderLayer);

// Token + learned position embeddings -> num_layers x EncoderLayer
// (num_heads, feed-forward hidden_dim) -> masked mean pool -> Linear.
class TransformerClassifierImpl : public ClassifierImpl {
 public:
  TransformerClassifierImpl(const ModelConfig& cfg, std::int64_t vocab, std::int64_t classes,
                            std::int64_t max_len);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::nn::Embedding embed_{nullptr}, pos_{nullptr};
  torch::nn::ModuleList layers_;
  torch::nn::Dropout drop_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// The model for cfg.model.arch.
std::shared_ptr<ClassifierImpl> make_classifier(const Config& cfg, std::int64_t vocab,
                                                std::int64_t classes);

// The batch layout the architecture consumes.
BatchLayout layout_for(const std::string& arch);

}  // namespace mltrain

#endif  // MLTRAIN_MODELS_H_
