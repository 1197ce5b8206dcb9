// Training steps of bow with model.sparse, driven from JSON, for
// tests/sparse/reference_test.py, which runs the same steps in PyTorch
// (nn.EmbeddingBag(sparse=True) + SparseAdam / Adagrad / SGD) and compares.
//
//   sparse_step < input.json > output.json
//
// input:  {"optimizer": "adam"|"adagrad"|"sgd", "lr": x, "rows": V, "dim": D,
//          "classes": C, "embed": [V*D], "fc_weight": [C*D], "fc_bias": [C],
//          "steps": [{"tokens": [...], "offsets": [...], "labels": [...]}, ...]}
// output: {"embed": [...], "fc_weight": [...], "fc_bias": [...], "losses": [...]}
// Public API only, as a user's program would use it.
#include <mltrain/mltrain.h>
#include <torch/torch.h>

#include <iostream>
#include <nlohmann/json.hpp>

namespace {

torch::Tensor floats(const nlohmann::json& j, std::vector<std::int64_t> sizes) {
  return torch::tensor(j.get<std::vector<float>>()).view(sizes);
}

torch::Tensor longs(const nlohmann::json& j) {
  return torch::tensor(j.get<std::vector<std::int64_t>>(), torch::kLong);
}

std::vector<float> values(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous().view({-1});
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

}  // namespace

int main() {
  const nlohmann::json in = nlohmann::json::parse(std::cin);
  const std::int64_t rows = in.at("rows"), dim = in.at("dim"), classes = in.at("classes");
  mltrain::Config cfg;
  cfg.model.embed_dim = dim;
  cfg.model.hidden_dim = 0;  // embedding bag, then one linear layer
  cfg.model.dropout = 0;
  cfg.model.sparse = true;
  cfg.training.optimizer = in.at("optimizer").get<std::string>();
  auto model = mltrain::make_classifier(cfg, rows, classes);
  {
    torch::NoGradGuard no_grad;
    for (auto& kv : model->named_parameters()) {
      if (kv.key() == "embed.weight") kv.value().copy_(floats(in.at("embed"), {rows, dim}));
      if (kv.key() == "fc.weight") kv.value().copy_(floats(in.at("fc_weight"), {classes, dim}));
      if (kv.key() == "fc.bias") kv.value().copy_(floats(in.at("fc_bias"), {classes}));
    }
  }
  const double lr = in.at("lr");
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (cfg.training.optimizer == "adam") {
    optimizer = std::make_unique<mltrain::FusedAdam>(model->parameters(),
                                                     torch::optim::AdamOptions(lr), false);
  } else if (cfg.training.optimizer == "adagrad") {
    optimizer = std::make_unique<torch::optim::Adagrad>(model->parameters(),
                                                        torch::optim::AdagradOptions(lr));
  } else {
    optimizer =
        std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(lr));
  }
  mltrain::GradShards shards(nullptr, model->parameters(), 1, model->sparse_parameters());
  nlohmann::json out;
  out["losses"] = nlohmann::json::array();
  for (const auto& s : in.at("steps")) {
    mltrain::Batch b;
    b.tokens = longs(s.at("tokens"));
    b.offsets = longs(s.at("offsets"));
    b.labels = longs(s.at("labels"));
    const float loss = shards.backward([&](std::int64_t) {
      torch::Tensor l = torch::nn::functional::cross_entropy(model->forward(b), b.labels);
      l.backward();
      return l.item<float>();
    });
    optimizer->step();
    out["losses"].push_back(loss);
  }
  for (auto& kv : model->named_parameters()) {
    if (kv.key() == "embed.weight") out["embed"] = values(kv.value());
    if (kv.key() == "fc.weight") out["fc_weight"] = values(kv.value());
    if (kv.key() == "fc.bias") out["fc_bias"] = values(kv.value());
  }
  std::cout << out.dump() << "\n";
  return 0;
}
