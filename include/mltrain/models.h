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
#include <torch/nn/modules/transformer.h>

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

// Token + learned position embeddings -> TransformerEncoder (num_layers x
// num_heads, feed-forward hidden_dim) -> masked mean pool -> Linear.
class TransformerClassifierImpl : public ClassifierImpl {
 public:
  TransformerClassifierImpl(const ModelConfig& cfg, std::int64_t vocab, std::int64_t classes,
                            std::int64_t max_len);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::nn::Embedding embed_{nullptr}, pos_{nullptr};
  torch::nn::TransformerEncoder encoder_{nullptr};
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
