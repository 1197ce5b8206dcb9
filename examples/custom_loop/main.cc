// A training loop of your own on ml-train's Run API.
//
//   custom_loop RUN_DIR [--nondeterministic]
//
// The model (an embedding bag, dropout and a linear layer) and the loop are
// this program's own; ml-train's Run gives them a run directory, a per-step
// trace, checkpoints with bit-exact kill -9 resume and a state hash. Check it
// with `ml-train verify --repeats 2 --interrupt-at 5 -- custom_loop {run_dir}`;
// `ml-train diff`, `report` and `runs` read what it writes.
//
// --nondeterministic is a bug on purpose: from step 4 on, the dropout masks
// come from a generator seeded with the clock instead of one the Run tracks,
// so two runs differ from step 4 and `verify` names that step.
#include <torch/torch.h>

#include <chrono>
#include <iostream>

#include "mltrain/mltrain.h"

using json = nlohmann::json;

// Mean of the token embeddings (B, E) -> dropout -> logits (B, C).
struct TinyImpl : torch::nn::Module {
  TinyImpl(std::int64_t vocab, std::int64_t classes)
      : embed(register_module("embed",
                              torch::nn::EmbeddingBag(torch::nn::EmbeddingBagOptions(vocab, 16)))),
        fc(register_module("fc", torch::nn::Linear(16, classes))) {}
  torch::Tensor forward(const mltrain::Batch& b, at::Generator* dropout) {
    torch::Tensor h = embed(b.tokens, b.offsets);  // (B, 16)
    if (dropout != nullptr) h = h * torch::bernoulli(torch::full_like(h, 0.8), *dropout) / 0.8;
    return fc(h);  // (B, C)
  }
  torch::nn::EmbeddingBag embed;
  torch::nn::Linear fc;
};
TORCH_MODULE(Tiny);

double accuracy(Tiny& model, const mltrain::EncodedSplit& split) {
  torch::NoGradGuard no_grad;
  mltrain::LoaderOptions lo;
  lo.shuffle = false;
  mltrain::DeterministicLoader loader(split, lo);
  loader.start_epoch(0);
  mltrain::Batch b;
  std::int64_t correct = 0;
  while (loader.next(&b))
    correct += (model->forward(b, nullptr).argmax(1) == b.labels).sum().item<std::int64_t>();
  return static_cast<double>(correct) / static_cast<double>(split.size());
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: custom_loop RUN_DIR [--nondeterministic]\n";
    return 2;
  }
  const bool buggy = argc > 2 && std::string(argv[2]) == "--nondeterministic";
  try {
    // Everything that decides the result is in the identity (config.json).
    const json identity = {{"seed", 7},          {"deterministic", true}, {"data", "sample"},
                           {"model", "tiny-16"}, {"epochs", 3},           {"batch_size", 16},
                           {"lr", 0.02},         {"dropout", 0.2},        {"bug", buggy}};
    mltrain::Config cfg;  // ml-train's readers and tokenizer, on its sample data
    cfg.data.train_path = SAMPLE_DATA "/train.jsonl";
    cfg.data.val_path = SAMPLE_DATA "/val.jsonl";
    cfg.data.test_path = "";
    cfg.tokenizer.min_freq = 1;
    const mltrain::PreparedData data = mltrain::prepare_data(cfg);

    mltrain::RunOptions options;
    options.dir = argv[1];
    options.checkpoint_every = 4;
    options.trace_every = 4;
    options.command_line.assign(argv, argv + argc);
    options.data = data.fingerprint;
    mltrain::Run run = mltrain::Run::open(identity, options);  // seeds every generator
    if (run.completed()) {
      std::cout << "already completed: state_sha256 " << run.summary()["state_sha256"] << "\n";
      return 0;
    }

    Tiny model(data.vocab.size(), static_cast<std::int64_t>(data.label_names.size()));
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.02));
    at::Generator dropout = at::detail::createCPUGenerator(run.seed());
    at::Generator clock = at::detail::createCPUGenerator(
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    run.track_generator("dropout", dropout);  // saved in checkpoints, restored on resume
    const mltrain::RunPosition start = run.resume(*model, opt);

    mltrain::LoaderOptions lo;
    lo.batch_size = 16;
    lo.seed = run.seed();
    mltrain::DeterministicLoader loader(data.train, lo);
    for (std::int64_t epoch = start.epoch; epoch < 3; ++epoch) {
      loader.start_epoch(epoch, epoch == start.epoch ? start.batch : 0);
      mltrain::Batch b;
      while (loader.next(&b)) {
        const std::int64_t step = run.position().step + 1;
        at::Generator* masks = buggy && step >= 4 ? &clock : &dropout;
        torch::Tensor loss =
            torch::nn::functional::cross_entropy(model->forward(b, masks), b.labels);
        opt.zero_grad();
        loss.backward();
        opt.step();
        run.record_input("labels", b.labels);
        run.record_step(loss.item<float>(), 0.02);
      }
      const double acc = accuracy(model, data.val);
      run.record_epoch({{"val_acc", acc}});
      std::cout << "epoch " << epoch + 1 << " val_acc " << acc << "\n";
    }
    const json summary = run.finish({{"val_acc", accuracy(model, data.val)}});
    std::cout << "state_sha256 " << summary["state_sha256"].get<std::string>() << "\n";
  } catch (const mltrain::Error& e) {
    std::cerr << "custom_loop: " << e.what() << "\n";
    return static_cast<int>(e.code());
  }
  return 0;
}
