// A data-parallel training loop of your own on ml-train's Run API: the same
// bits on 1, 2, ... K ranks.
//
//   dist_loop [RUN_DIR] [KEY=VALUE ...]       e.g. runtime.nproc=2, model.dim=32
//
// The program is an ordinary single-process loop plus three things:
// - its config is declared once (ConfigSpec): files, KEY=VALUE overrides,
//   validation, --help and the run identity come from it;
// - launch_ranks_if_needed() starts runtime.nproc copies of it (torchrun's
//   or Slurm's environment works as well), and Run::open connects them: rank
//   0 records, every rank starts from rank 0's state;
// - GradShards cuts every batch into training.shards shards (part of the
//   identity) and adds their gradients in shard order on every rank, and
//   dropout draws from shard_generator(seed, step, shard), so which rank
//   computes a shard never matters.
// Check it: ml-train verify --vary runtime.nproc=1,2 -- dist_loop {run_dir}
#include <torch/torch.h>

#include <iostream>

#include "mltrain/mltrain.h"

using json = nlohmann::json;

// Mean of the token embeddings (B, D) -> dropout -> logits (B, C).
struct BagImpl : torch::nn::Module {
  BagImpl(std::int64_t vocab, std::int64_t dim, std::int64_t classes)
      : embed(register_module("embed",
                              torch::nn::EmbeddingBag(torch::nn::EmbeddingBagOptions(vocab, dim)))),
        fc(register_module("fc", torch::nn::Linear(dim, classes))) {}
  torch::Tensor forward(const mltrain::Batch& b, double p, at::Generator* gen) {
    torch::Tensor h = embed(b.tokens, b.offsets);  // (B, D)
    if (gen != nullptr) h = h * torch::bernoulli(torch::full_like(h, 1 - p), *gen) / (1 - p);
    return fc(h);  // (B, C)
  }
  torch::nn::EmbeddingBag embed;
  torch::nn::Linear fc;
};
TORCH_MODULE(Bag);

double accuracy(Bag& model, const mltrain::EncodedSplit& split) {
  torch::NoGradGuard no_grad;
  mltrain::LoaderOptions lo;
  lo.shuffle = false;
  mltrain::DeterministicLoader loader(split, lo);
  loader.start_epoch(0);
  mltrain::Batch b;
  std::int64_t correct = 0;
  while (loader.next(&b))
    correct += (model->forward(b, 0, nullptr).argmax(1) == b.labels).sum().item<std::int64_t>();
  return static_cast<double>(correct) / static_cast<double>(split.size());
}

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  try {
    mltrain::ConfigSpec spec;
    spec.integer("model.dim", 16, 1, 1024, "embedding width")
        .number("model.dropout", 0.2, 0, 0.9, "dropout on the mean embedding")
        .integer("training.epochs", 3, 1, 100, "passes over the training split")
        .integer("training.batch_size", 16, 1, 4096, "examples per step")
        .number("training.lr", 0.02, 0, 10, "Adam's learning rate")
        .integer("training.shards", 2, 1, 64, "gradient shards per batch: up to this many ranks")
        .run_keys();
    const mltrain::CommandLine cl = spec.parse({args.begin() + 1, args.end()});
    if (cl.help) {
      std::cout << spec.help("dist_loop [RUN_DIR] [KEY=VALUE ...]");
      return 0;
    }
    const mltrain::Settings& cfg = cl.settings;
    if (int rc = mltrain::launch_ranks_if_needed(args, cfg.integer("runtime.nproc")); rc >= 0) {
      return rc;
    }

    mltrain::Config data_cfg;  // ml-train's readers and tokenizer, on its sample data
    data_cfg.data.train_path = SAMPLE_DATA "/train.jsonl";
    data_cfg.data.val_path = SAMPLE_DATA "/val.jsonl";
    data_cfg.data.test_path = "";
    data_cfg.tokenizer.min_freq = 1;
    data_cfg.runtime.token_cache = false;
    const mltrain::PreparedData data = mltrain::prepare_data(data_cfg);

    mltrain::RunOptions options = mltrain::run_options(cfg);
    if (!cl.positional.empty()) options.dir = cl.positional[0];
    options.command_line = args;
    options.data = data.fingerprint;
    mltrain::Run run = mltrain::Run::open(cfg.identity(), options);  // ranks, seeding
    if (run.completed()) return 0;

    Bag model(data.vocab.size(), cfg.integer("model.dim"),
              static_cast<std::int64_t>(data.label_names.size()));
    torch::optim::Adam opt(model->parameters(),
                           torch::optim::AdamOptions(cfg.number("training.lr")));
    const mltrain::RunPosition start = run.resume(*model, opt);  // rank 0's state on every rank

    const std::int64_t K = cfg.integer("training.shards");
    mltrain::GradShards shards(run, model->parameters(), K);
    mltrain::LoaderOptions lo;
    lo.batch_size = cfg.integer("training.batch_size");
    lo.seed = run.seed();
    lo.shards = K;  // the loader builds this rank's shards of each batch
    lo.rank = run.rank();
    lo.world = run.world();
    mltrain::DeterministicLoader loader(data.train, lo);
    const double p = cfg.number("model.dropout");
    for (std::int64_t epoch = start.epoch; epoch < cfg.integer("training.epochs"); ++epoch) {
      loader.start_epoch(epoch, epoch == start.epoch ? start.batch : 0);
      mltrain::Batch b;
      while (loader.next(&b)) {
        const std::int64_t step = run.position().step + 1;
        const float loss = shards.backward([&](std::int64_t k) {
          const mltrain::Batch* part = b.parts.empty() ? &b : nullptr;  // one shard: the batch
          for (const mltrain::Batch& s : b.parts) part = s.shard == k ? &s : part;
          if (part == nullptr || part->size() == 0) return 0.0f;  // an empty shard adds nothing
          at::Generator gen = mltrain::shard_generator(run.seed(), step, k);
          torch::Tensor l =
              torch::nn::functional::cross_entropy(model->forward(*part, p, &gen), part->labels) *
              (static_cast<double>(part->size()) / static_cast<double>(b.size()));
          l.backward();
          return l.item<float>();
        });
        opt.step();
        run.record_step(loss);
      }
      const double acc = accuracy(model, data.val);
      run.record_epoch({{"val_acc", acc}});  // every rank: the replicas are compared here
      if (run.leader()) std::cout << "epoch " << epoch + 1 << " val_acc " << acc << "\n";
    }
    const json summary = run.finish({{"val_acc", accuracy(model, data.val)}});
    if (run.leader())
      std::cout << "state_sha256 " << summary["state_sha256"].get<std::string>() << "\n";
  } catch (const mltrain::Error& e) {
    std::cerr << "dist_loop: " << e.what() << "\n";
    return static_cast<int>(e.code());
  }
  return 0;
}
