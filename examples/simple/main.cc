// The ml-train library inside your own LibTorch training loop.
//
//   simple_example [DATA_DIR]     (default: data/sample)
//
// Three calls give a hand-written loop ml-train's guarantees: seed_everything
// (every generator and the deterministic switches), DeterministicLoader
// (batches independent of the number of worker threads, resumable at any
// (epoch, batch)), and state_hash (the model fingerprint Python's recipe
// reproduces). Run it twice: it prints the same hash every time.
#include <torch/torch.h>

#include <iostream>

#include "mltrain/mltrain.h"

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "data/sample";
  try {
    mltrain::Config cfg;  // defaults, then what this example needs
    cfg.data.train_path = dir + "/train.jsonl";
    cfg.data.val_path = dir + "/val.jsonl";
    cfg.data.test_path = "";
    cfg.tokenizer.max_len = 128;
    cfg.tokenizer.min_freq = 1;

    mltrain::seed_everything(/*seed=*/42, /*deterministic=*/true);
    mltrain::PreparedData data = mltrain::prepare_data(cfg);

    // Your own model: a bag of embeddings and a linear layer.
    torch::nn::EmbeddingBag embed(
        torch::nn::EmbeddingBagOptions(data.vocab.size(), 32).mode(torch::kMean));
    torch::nn::Linear head(32, static_cast<std::int64_t>(data.label_names.size()));
    torch::nn::Sequential holder;  // only to hash both modules together
    holder->push_back(embed);
    holder->push_back(head);
    torch::optim::Adam opt(holder->parameters(), torch::optim::AdamOptions(0.01));

    mltrain::LoaderOptions lo;
    lo.batch_size = 16;
    lo.seed = 42;
    lo.num_workers = 2;  // any value gives the same batches
    lo.layout = mltrain::BatchLayout::kBag;
    mltrain::DeterministicLoader loader(data.train, lo);

    for (std::int64_t epoch = 0; epoch < 3; ++epoch) {
      loader.start_epoch(epoch);
      mltrain::Batch b;
      double total = 0;
      while (loader.next(&b)) {
        opt.zero_grad();
        torch::Tensor logits = head(embed(b.tokens, b.offsets));  // (B, C)
        torch::Tensor loss = torch::nn::functional::cross_entropy(logits, b.labels);
        loss.backward();
        opt.step();
        total += loss.item<double>();
      }
      std::cout << "epoch " << epoch + 1 << " mean loss " << total / loader.num_batches() << "\n";
    }
    std::cout << "state_hash " << mltrain::state_hash(*holder) << "\n";
  } catch (const mltrain::Error& e) {
    std::cerr << "simple_example: " << e.what() << "\n";
    return static_cast<int>(e.code());
  }
  return 0;
}
