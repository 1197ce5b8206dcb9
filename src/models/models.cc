#include "mltrain/models.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "mltrain/error.h"
#include "mltrain/probe.h"
#include "mltrain/rng.h"
#include "models/bag.h"
#include "models/fixed.h"

namespace mltrain {

namespace nn = torch::nn;

namespace {

// The int64 bits of a uint64 constant (two's complement, as C++20 defines it).
std::int64_t bits64(std::uint64_t u) { return static_cast<std::int64_t>(u); }

// z >> s on the uint64 bits of int64 tensor z: LibTorch's >> on int64 is
// arithmetic, so the sign bits it shifts in are masked off.
torch::Tensor shift_right_logical(const torch::Tensor& z, int s) {
  return torch::bitwise_and(torch::bitwise_right_shift(z, s),
                            bits64((std::uint64_t{1} << (64 - s)) - 1));
}

// mix64 (rng.h) element-wise on int64 tensors: + and * wrap modulo 2^64 on
// int64 as they do on uint64, and ^ and & do not care about the sign.
torch::Tensor mix64_tensor(torch::Tensor z) {
  z = torch::bitwise_xor(z, shift_right_logical(z, 30)) * bits64(0xbf58476d1ce4e5b9ULL);
  z = torch::bitwise_xor(z, shift_right_logical(z, 27)) * bits64(0x94d049bb133111ebULL);
  return torch::bitwise_xor(z, shift_right_logical(z, 31));
}

}  // namespace

torch::Tensor stream_dropout_mask_tensor_ops(torch::IntArrayRef sizes, torch::Device device,
                                             double p, std::uint64_t key) {
  std::int64_t n = 1;
  for (const std::int64_t s : sizes) n *= s;
  const std::int64_t pairs = (n + 1) / 2;
  const auto threshold = static_cast<std::int64_t>(static_cast<std::uint32_t>(p * 4294967296.0));
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  // Value i of the stream: mix64(key + (i + 1) * gamma), for i < pairs.
  torch::Tensor i = torch::arange(1, pairs + 1, torch::dtype(torch::kLong).device(device));
  torch::Tensor u = mix64_tensor(i * bits64(kStreamGamma) + bits64(key));  // (pairs)
  // Element 2i from the low 32 bits of value i, element 2i+1 from the high.
  torch::Tensor keep =
      torch::stack({torch::bitwise_and(u, bits64(0xffffffffULL)), shift_right_logical(u, 32)}, 1)
          .ge(threshold)
          .view({2 * pairs})
          .narrow(0, 0, n);
  return (keep.to(torch::kFloat) * scale).view(sizes);
}

torch::Tensor stream_dropout(const torch::Tensor& x, double p, std::uint64_t key) {
  if (!x.device().is_cpu())
    return x * stream_dropout_mask_tensor_ops(x.sizes(), x.device(), p, key);
  torch::Tensor mask = torch::empty(x.sizes(), x.options().dtype(torch::kFloat));
  float* m = mask.data_ptr<float>();
  const std::int64_t n = mask.numel();
  // Keep an element when its 32-bit draw is >= p * 2^32; one stream value
  // gives the draws of two neighbouring elements.
  const auto threshold = static_cast<std::uint32_t>(p * 4294967296.0);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  at::parallel_for(0, (n + 1) / 2, 1 << 14, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::uint64_t u = stream_at(key, static_cast<std::uint64_t>(i));
      m[2 * i] = static_cast<std::uint32_t>(u) >= threshold ? scale : 0.0f;
      if (2 * i + 1 < n)
        m[2 * i + 1] = static_cast<std::uint32_t>(u >> 32) >= threshold ? scale : 0.0f;
    }
  });
  return x * mask;
}

StreamDropoutImpl::StreamDropoutImpl(double p, std::int64_t site,
                                     std::shared_ptr<const DropoutContext> ctx)
    : p_(p), site_(site), ctx_(std::move(ctx)) {}

torch::Tensor StreamDropoutImpl::forward(const torch::Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  return stream_dropout(x, p_,
                        stream_key(ctx_->seed, "dropout", static_cast<std::uint64_t>(ctx_->step),
                                   static_cast<std::uint64_t>(site_) +
                                       (static_cast<std::uint64_t>(ctx_->shard) << 32)));
}

BowClassifierImpl::BowClassifierImpl(const ModelConfig& cfg, std::int64_t vocab,
                                     std::int64_t classes)
    : sparse_(cfg.sparse) {
  embed_ = register_module(
      "embed", nn::EmbeddingBag(nn::EmbeddingBagOptions(vocab, cfg.embed_dim).mode(torch::kMean)));
  if (cfg.hidden_dim > 0) {
    fc1_ = register_module("fc1", nn::Linear(cfg.embed_dim, cfg.hidden_dim));
    drop_ = register_module("drop", make_dropout(cfg.dropout));
    fc2_ = register_module("fc2", nn::Linear(cfg.hidden_dim, classes));
  } else {
    drop_ = register_module("drop", make_dropout(cfg.dropout));
    fc2_ = register_module("fc", nn::Linear(cfg.embed_dim, classes));
  }
}

torch::Tensor BowClassifierImpl::forward(const Batch& b) {
  torch::Tensor x =
      probe("embed", bag_mean(embed_->weight, b.tokens, b.offsets, sparse_));  // (B, E)
  if (fc1_) {
    x = probe("drop", drop_(torch::relu(probe("fc1", fc1_(x)))));  // (B, H)
    return probe("fc2", fc2_(x));                                  // (B, C)
  }
  x = probe("drop", drop_(x));  // linear in the bag of tokens (fastText)
  return probe("fc", fc2_(x));  // (B, C)
}

std::vector<torch::Tensor> BowClassifierImpl::sparse_parameters() const {
  if (!sparse_) return {};
  return {embed_->weight};
}

CnnClassifierImpl::CnnClassifierImpl(const ModelConfig& cfg, std::int64_t vocab,
                                     std::int64_t classes, bool fixed)
    : fixed_(fixed) {
  embed_ = register_module(
      "embed", nn::Embedding(nn::EmbeddingOptions(vocab, cfg.embed_dim).padding_idx(Vocab::kPad)));
  convs_ = register_module("convs", nn::ModuleList());
  for (std::int64_t l = 0; l < cfg.num_layers; ++l) {
    std::int64_t in = l == 0 ? cfg.embed_dim : cfg.hidden_dim;
    convs_->push_back(nn::Conv1d(nn::Conv1dOptions(in, cfg.hidden_dim, 3).padding(1)));
    conv_names_.push_back("convs." + std::to_string(l));
  }
  drop_ = register_module("drop", make_dropout(cfg.dropout));
  fc_ = register_module("fc", nn::Linear(cfg.hidden_dim, classes));
}

torch::Tensor CnnClassifierImpl::forward(const Batch& b) {
  torch::Tensor x = probe("embed", embed_(b.tokens)).transpose(1, 2);  // (B, E, T)
  std::size_t l = 0;
  for (const auto& m : *convs_) {
    auto* conv = m->as<nn::Conv1d>();
    x = probe(conv_names_[l++], torch::relu(fixed_ ? conv1d_fixed(x, conv->weight, conv->bias)
                                                   : conv->forward(x)));  // (B, H, T)
  }
  // Padding positions must not win the max.
  x = x.masked_fill(b.mask.logical_not().unsqueeze(1), -1e9);  // (B, H, T)
  x = probe("pool", std::get<0>(x.max(2)));                    // (B, H)
  return probe("fc", fc_(probe("drop", drop_(x))));            // (B, C)
}

EncoderLayerImpl::EncoderLayerImpl(std::int64_t dim, std::int64_t heads, std::int64_t ff,
                                   std::vector<StreamDropout> drops, std::string name, bool fixed)
    : heads_(heads),
      fixed_(fixed),
      drops_(std::move(drops)),
      attn_name_(name + ".self_attn"),
      norm1_name_(name + ".norm1"),
      ff1_name_(name + ".ff1"),
      ff2_name_(name + ".ff2"),
      norm2_name_(name + ".norm2") {
  for (std::size_t i = 0; i < drops_.size(); ++i) {
    register_module("drop" + std::to_string(i), drops_[i]);
  }
  qkv_ = register_module("qkv", nn::Linear(dim, 3 * dim));
  out_ = register_module("out", nn::Linear(dim, dim));
  ff1_ = register_module("ff1", nn::Linear(dim, ff));
  ff2_ = register_module("ff2", nn::Linear(ff, dim));
  norm1_ = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({dim})));
  norm2_ = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({dim})));
}

torch::Tensor EncoderLayerImpl::norm(torch::nn::LayerNorm& n, const torch::Tensor& x) {
  return fixed_ ? layer_norm_fixed(x, n->weight, n->bias, n->options.eps()) : n->forward(x);
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& pad) {
  const std::int64_t B = x.size(0), T = x.size(1), E = x.size(2), H = heads_, D = E / H;
  // (B, T, 3E) -> 3 x (B*H, T, D)
  auto qkv = qkv_(x).view({B, T, 3, H, D}).permute({2, 0, 3, 1, 4}).reshape({3, B * H, T, D});
  // Scale q (B*H*T*D values), not the scores (B*H*T*T), and add the padding
  // mask inside the matmul, as PyTorch's multi-head attention does.
  torch::Tensor q = qkv[0] * (1.0 / std::sqrt(static_cast<double>(D)));
  torch::Tensor att = torch::baddbmm(pad.expand({B, H, 1, T}).reshape({B * H, 1, T}), q,
                                     qkv[1].transpose(1, 2));  // (B*H, T, T)
  att = drops_[0](torch::softmax(att, -1));
  torch::Tensor y = torch::bmm(att, qkv[2])  // (B*H, T, D)
                        .view({B, H, T, D})
                        .transpose(1, 2)
                        .reshape({B, T, E});  // (B, T, E)
  y = probe(attn_name_, out_(y));
  torch::Tensor h = probe(norm1_name_, norm(norm1_, x + drops_[1](y)));
  torch::Tensor f = probe(ff1_name_, torch::relu(ff1_(h)));
  f = probe(ff2_name_, ff2_(drops_[2](f)));
  return probe(norm2_name_, norm(norm2_, h + drops_[3](f)));
}

TransformerClassifierImpl::TransformerClassifierImpl(const ModelConfig& cfg, std::int64_t vocab,
                                                     std::int64_t classes, std::int64_t max_len,
                                                     bool fixed) {
  embed_ = register_module(
      "embed", nn::Embedding(nn::EmbeddingOptions(vocab, cfg.embed_dim).padding_idx(Vocab::kPad)));
  pos_ = register_module("pos", nn::Embedding(max_len, cfg.embed_dim));
  layers_ = register_module("layers", nn::ModuleList());
  for (std::int64_t l = 0; l < cfg.num_layers; ++l) {
    std::vector<StreamDropout> drops;
    for (int d = 0; d < 4; ++d) drops.push_back(make_dropout(cfg.dropout));
    layers_->push_back(EncoderLayer(cfg.embed_dim, cfg.num_heads, cfg.hidden_dim, drops,
                                    "layers." + std::to_string(l), fixed));
  }
  drop_ = register_module("drop", make_dropout(cfg.dropout));
  fc_ = register_module("fc", nn::Linear(cfg.embed_dim, classes));
}

torch::Tensor TransformerClassifierImpl::forward(const Batch& b) {
  const std::int64_t T = b.tokens.size(1);
  // On the batch's device (the model's), which need not be the CPU.
  torch::Tensor positions = torch::arange(T, b.tokens.options().dtype(torch::kInt64));  // (T)
  torch::Tensor x = probe("embed", embed_(b.tokens) + pos_(positions).unsqueeze(0));    // (B, T, E)
  // Additive key-padding mask: 0 for tokens, -inf for padding.       (B, 1, 1, T)
  torch::Tensor pad =
      torch::zeros(b.mask.sizes(), b.mask.options().dtype(torch::kFloat))
          .masked_fill(b.mask.logical_not(), -std::numeric_limits<float>::infinity())
          .view({b.mask.size(0), 1, 1, b.mask.size(1)});
  for (const auto& layer : *layers_) x = layer->as<EncoderLayer>()->forward(x, pad);
  torch::Tensor m = b.mask.unsqueeze(2).to(x.dtype());          // (B, T, 1)
  x = probe("pool", (x * m).sum(1) / m.sum(1).clamp_min(1.0));  // (B, E)
  return probe("fc", fc_(probe("drop", drop_(x))));             // (B, C)
}

std::shared_ptr<ClassifierImpl> make_classifier(const Config& cfg, std::int64_t vocab,
                                                std::int64_t classes) {
  const std::string& arch = cfg.model.arch;
  if (arch == "bow") return std::make_shared<BowClassifierImpl>(cfg.model, vocab, classes);
  if (arch == "cnn") {
    return std::make_shared<CnnClassifierImpl>(cfg.model, vocab, classes, cfg.deterministic);
  }
  if (arch == "transformer") {
    return std::make_shared<TransformerClassifierImpl>(cfg.model, vocab, classes,
                                                       cfg.tokenizer.max_len, cfg.deterministic);
  }
  fail_usage("key 'model.arch': unknown architecture \"" + arch + "\"");
}

BatchLayout layout_for(const std::string& arch) {
  return arch == "bow" ? BatchLayout::kBag : BatchLayout::kPadded;
}

}  // namespace mltrain
