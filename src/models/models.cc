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

TransformerClassifierImpl::TransformerClassifierImpl(const ModelConfig& cfg, std::int64_t vocab,
                                                     std::int64_t classes, std::int64_t max_len) {
  embed_ = register_module(
      "embed", nn::Embedding(nn::EmbeddingOptions(vocab, cfg.embed_dim).padding_idx(Vocab::kPad)));
  pos_ = register_module("pos", nn::Embedding(max_len, cfg.embed_dim));
  auto layer = nn::TransformerEncoderLayerOptions(cfg.embed_dim, cfg.num_heads)
                   .dim_feedforward(cfg.hidden_dim)
                   .dropout(cfg.dropout);
  encoder_ = register_module(
      "encoder", nn::TransformerEncoder(nn::TransformerEncoderOptions(layer, cfg.num_layers)));
  drop_ = register_module("drop", nn::Dropout(cfg.dropout));
  fc_ = register_module("fc", nn::Linear(cfg.embed_dim, classes));
}

torch::Tensor TransformerClassifierImpl::forward(const Batch& b) {
  const std::int64_t T = b.tokens.size(1);
  torch::Tensor positions = torch::arange(T, torch::kInt64);                   // (T)
  torch::Tensor x = embed_(b.tokens) + pos_(positions).unsqueeze(0);          // (B, T, E)
  x = encoder_->forward(x.transpose(0, 1), /*src_mask=*/torch::Tensor(), /*src_key_padding_mask=*/
               b.mask.logical_not());                                           // (T, B, E)
  x = x.transpose(0, 1);                                                        // (B, T, E)
  torch::Tensor m = b.mask.unsqueeze(2).to(x.dtype());                          // (B, T, 1)
  x = (x * m).sum(1) / m.sum(1).clamp_min(1.0);                                 // (B, E)
  return fc_(drop_(x));                                                         // (B, C)
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
