#include "mltrain/models.h"

#include <torch/torch.h>

#include "mltrain/error.h"

namespace mltrain {

namespace nn = torch::nn;

BowClassifierImpl::BowClassifierImpl(const ModelConfig& cfg, std::int64_t vocab,
                                     std::int64_t classes) {
  embed_ = register_module(
      "embed", nn::EmbeddingBag(nn::EmbeddingBagOptions(vocab, cfg.embed_dim).mode(torch::kMean)));
  fc1_ = register_module("fc1", nn::Linear(cfg.embed_dim, cfg.hidden_dim));
  drop_ = register_module("drop", nn::Dropout(cfg.dropout));
  fc2_ = register_module("fc2", nn::Linear(cfg.hidden_dim, classes));
}

torch::Tensor BowClassifierImpl::forward(const Batch& b) {
  torch::Tensor x = embed_(b.tokens, b.offsets);  // (B, E)
  x = drop_(torch::relu(fc1_(x)));                // (B, H)
  return fc2_(x);                                 // (B, C)
}

CnnClassifierImpl::CnnClassifierImpl(const ModelConfig& cfg, std::int64_t vocab,
                                     std::int64_t classes) {
  embed_ = register_module(
      "embed", nn::Embedding(nn::EmbeddingOptions(vocab, cfg.embed_dim).padding_idx(Vocab::kPad)));
  convs_ = register_module("convs", nn::ModuleList());
  for (std::int64_t l = 0; l < cfg.num_layers; ++l) {
    std::int64_t in = l == 0 ? cfg.embed_dim : cfg.hidden_dim;
    convs_->push_back(nn::Conv1d(nn::Conv1dOptions(in, cfg.hidden_dim, 3).padding(1)));
  }
  drop_ = register_module("drop", nn::Dropout(cfg.dropout));
  fc_ = register_module("fc", nn::Linear(cfg.hidden_dim, classes));
}

torch::Tensor CnnClassifierImpl::forward(const Batch& b) {
  torch::Tensor x = embed_(b.tokens).transpose(1, 2);  // (B, E, T)
  for (const auto& m : *convs_) {
    x = torch::relu(m->as<nn::Conv1d>()->forward(x));  // (B, H, T)
  }
  // Padding positions must not win the max.
  x = x.masked_fill(b.mask.logical_not().unsqueeze(1), -1e9);  // (B, H, T)
  x = std::get<0>(x.max(2));                                   // (B, H)
  return fc_(drop_(x));                                        // (B, C)
}

EncoderLayerImpl::EncoderLayerImpl(std::int64_t dim, std::int64_t heads, std::int64_t ff,
                                   double dropout)
    : heads_(heads), dropout_(dropout) {
  qkv_ = register_module("qkv", nn::Linear(dim, 3 * dim));
  out_ = register_module("out", nn::Linear(dim, dim));
  ff1_ = register_module("ff1", nn::Linear(dim, ff));
  ff2_ = register_module("ff2", nn::Linear(ff, dim));
  norm1_ = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({dim})));
  norm2_ = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({dim})));
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& pad) {
  namespace F = torch::nn::functional;
  const std::int64_t B = x.size(0), T = x.size(1), E = x.size(2), H = heads_, D = E / H;
  const bool train = is_training();
  // (B, T, 3E) -> 3 x (B, H, T, D)
  auto qkv = qkv_(x).view({B, T, 3, H, D}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  torch::Tensor att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(D));
  att = att.masked_fill(pad, -std::numeric_limits<float>::infinity());  // (B, H, T, T)
  att = F::dropout(torch::softmax(att, -1), F::DropoutFuncOptions().p(dropout_).training(train));
  torch::Tensor y = torch::matmul(att, v).transpose(1, 2).reshape({B, T, E});  // (B, T, E)
  torch::Tensor h = norm1_(x + F::dropout(out_(y), F::DropoutFuncOptions().p(dropout_).training(train)));
  torch::Tensor f = F::dropout(torch::relu(ff1_(h)), F::DropoutFuncOptions().p(dropout_).training(train));
  return norm2_(h + F::dropout(ff2_(f), F::DropoutFuncOptions().p(dropout_).training(train)));
}

TransformerClassifierImpl::TransformerClassifierImpl(const ModelConfig& cfg, std::int64_t vocab,
                                                     std::int64_t classes, std::int64_t max_len) {
  embed_ = register_module(
      "embed", nn::Embedding(nn::EmbeddingOptions(vocab, cfg.embed_dim).padding_idx(Vocab::kPad)));
  pos_ = register_module("pos", nn::Embedding(max_len, cfg.embed_dim));
  layers_ = register_module("layers", nn::ModuleList());
  for (std::int64_t l = 0; l < cfg.num_layers; ++l) {
    layers_->push_back(EncoderLayer(cfg.embed_dim, cfg.num_heads, cfg.hidden_dim, cfg.dropout));
  }
  drop_ = register_module("drop", nn::Dropout(cfg.dropout));
  fc_ = register_module("fc", nn::Linear(cfg.embed_dim, classes));
}

torch::Tensor TransformerClassifierImpl::forward(const Batch& b) {
  const std::int64_t T = b.tokens.size(1);
  torch::Tensor positions = torch::arange(T, torch::kInt64);              // (T)
  torch::Tensor x = embed_(b.tokens) + pos_(positions).unsqueeze(0);     // (B, T, E)
  torch::Tensor pad = b.mask.logical_not().unsqueeze(1).unsqueeze(2);    // (B, 1, 1, T)
  for (const auto& layer : *layers_) x = layer->as<EncoderLayer>()->forward(x, pad);
  torch::Tensor m = b.mask.unsqueeze(2).to(x.dtype());                   // (B, T, 1)
  x = (x * m).sum(1) / m.sum(1).clamp_min(1.0);                          // (B, E)
  return fc_(drop_(x));                                                  // (B, C)
}

std::shared_ptr<ClassifierImpl> make_classifier(const Config& cfg, std::int64_t vocab,
                                                std::int64_t classes) {
  const std::string& arch = cfg.model.arch;
  if (arch == "bow") return std::make_shared<BowClassifierImpl>(cfg.model, vocab, classes);
  if (arch == "cnn") return std::make_shared<CnnClassifierImpl>(cfg.model, vocab, classes);
  if (arch == "transformer") {
    return std::make_shared<TransformerClassifierImpl>(cfg.model, vocab, classes,
                                                       cfg.tokenizer.max_len);
  }
  fail_usage("key 'model.arch': unknown architecture \"" + arch + "\"");
}

BatchLayout layout_for(const std::string& arch) {
  return arch == "bow" ? BatchLayout::kBag : BatchLayout::kPadded;
}

}  // namespace mltrain
