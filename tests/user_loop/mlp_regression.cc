// A training loop of a user's own on the Run API, written from the public
// headers alone the way a user would write it (it is not one of the
// examples): a 2-layer MLP regression on synthetic data, SGD with momentum,
// the learning rate decayed every epoch, dropout, its own config
// (ConfigSpec), data-parallel ranks (GradShards), and a metric of its own
// (val_mse). e2e.user_loop_test checks every guarantee on it through the
// experiment tools.
//
//   mlp_regression [RUN_DIR] [-c FILE] [--seed N] [KEY=VALUE ...]
//
// Without RUN_DIR the run goes to <runtime.output_dir>/<run_id>/.
// runtime.nproc=N starts N ranks of this program; torchrun's or Slurm's
// environment works too.
#include <torch/torch.h>

#include <cmath>
#include <iostream>

#include "mltrain/mltrain.h"

using json = nlohmann::json;

// x (N, 8) -> relu(fc1) (N, H) -> dropout -> fc2 -> (N).
struct MlpImpl : torch::nn::Module {
  MlpImpl(std::int64_t in, std::int64_t hidden)
      : fc1(register_module("fc1", torch::nn::Linear(in, hidden))),
        fc2(register_module("fc2", torch::nn::Linear(hidden, 1))) {}
  torch::Tensor forward(const torch::Tensor& x, double p, at::Generator* gen) {
    torch::Tensor h = torch::relu(fc1(x));  // (N, H)
    if (gen != nullptr && p > 0) {
      h = h * torch::bernoulli(torch::full_like(h, 1 - p), *gen) / (1 - p);
    }
    return fc2(h).squeeze(1);  // (N)
  }
  torch::nn::Linear fc1, fc2;
};
TORCH_MODULE(Mlp);

// y = sin(x . w) + 0.1 noise, from a generator of the seed's own.
std::pair<torch::Tensor, torch::Tensor> make_data(std::uint64_t seed, std::int64_t rows) {
  at::Generator gen = at::detail::createCPUGenerator(mltrain::stream_key(seed, "data"));
  torch::Tensor x = torch::randn({rows, 8}, gen);                               // (N, 8)
  torch::Tensor w = torch::randn({8}, gen);                                     // (8)
  torch::Tensor y = torch::sin(x.matmul(w)) + 0.1 * torch::randn({rows}, gen);  // (N)
  return {x, y};
}

double mse(Mlp& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  return torch::mse_loss(model->forward(x, 0, nullptr), y).item<double>();
}

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  try {
    mltrain::ConfigSpec spec;
    spec.integer("data.rows", 384, 16, 1 << 20, "synthetic training rows (and a quarter for val)")
        .integer("model.hidden", 32, 1, 4096, "hidden units")
        .number("model.dropout", 0.1, 0, 0.9, "dropout after the hidden layer")
        .integer("training.epochs", 3, 1, 1000, "passes over the training rows")
        .integer("training.batch_size", 32, 1, 1 << 20, "rows per step")
        .number("training.lr", 0.05, 0, 10, "initial learning rate")
        .number("training.momentum", 0.9, 0, 0.999, "SGD momentum")
        .number("training.decay", 0.7, 0.01, 1, "learning rate factor per epoch")
        .integer("training.grad_shards", 2, 1, 64, "gradient shards per batch (any ranks up to it)")
        .run_keys();
    const mltrain::CommandLine cl = spec.parse({args.begin() + 1, args.end()});
    if (cl.help) {
      std::cout << spec.help("mlp_regression [RUN_DIR] [-c FILE] [KEY=VALUE ...]");
      return 0;
    }
    if (cl.positional.size() > 1) {
      std::cerr << "usage: mlp_regression [RUN_DIR] [-c FILE] [KEY=VALUE ...] (--help for keys)\n";
      return 2;
    }
    const mltrain::Settings& cfg = cl.settings;
    if (int rc = mltrain::launch_ranks_if_needed(args, cfg.integer("runtime.nproc")); rc >= 0) {
      return rc;
    }

    const std::int64_t rows = cfg.integer("data.rows"), batch = cfg.integer("training.batch_size");
    const auto [x, y] = make_data(cfg.seed(), rows + rows / 4);
    const torch::Tensor xt = x.slice(0, 0, rows), yt = y.slice(0, 0, rows);
    const torch::Tensor xv = x.slice(0, rows), yv = y.slice(0, rows);
    mltrain::RunOptions options = mltrain::run_options(cfg);
    if (!cl.positional.empty()) options.dir = cl.positional[0];
    options.command_line = args;
    options.data = {{"x_sha256", mltrain::tensor_sha256(x)},
                    {"y_sha256", mltrain::tensor_sha256(y)},
                    {"rows", rows}};
    options.epochs = cfg.integer("training.epochs");
    options.steps_per_epoch = (rows + batch - 1) / batch;
    mltrain::Run run = mltrain::Run::open(cfg.identity(), options);
    if (run.completed()) {
      if (run.leader()) std::cout << "already completed: " << run.summary()["state_sha256"] << "\n";
      return 0;
    }

    Mlp model(8, cfg.integer("model.hidden"));  // after open(): seeded
    const double lr0 = cfg.number("training.lr"), p = cfg.number("model.dropout");
    torch::optim::SGD sgd(model->parameters(),
                          torch::optim::SGDOptions(lr0).momentum(cfg.number("training.momentum")));
    run.state() = {{"loss_sum", 0.0}, {"steps", 0}};
    const mltrain::RunPosition start = run.resume(*model, sgd);
    const std::int64_t K = cfg.integer("training.grad_shards");
    mltrain::GradShards shards(run, model->parameters(), K);

    double val = 0;
    for (std::int64_t epoch = start.epoch; epoch < options.epochs; ++epoch) {
      const double lr = lr0 * std::pow(cfg.number("training.decay"), static_cast<double>(epoch));
      for (auto& group : sgd.param_groups()) {
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
      }
      at::Generator order =
          at::detail::createCPUGenerator(mltrain::stream_key(run.seed(), "shuffle", epoch));
      const torch::Tensor perm = torch::randperm(rows, order);
      for (std::int64_t b = epoch == start.epoch ? start.batch : 0; b < options.steps_per_epoch;
           ++b) {
        const std::int64_t step = run.position().step + 1;
        const torch::Tensor idx = perm.slice(0, b * batch, std::min(rows, (b + 1) * batch));
        const torch::Tensor xb = xt.index_select(0, idx), yb = yt.index_select(0, idx);
        const std::int64_t n = xb.size(0);
        const float loss = shards.backward([&](std::int64_t k) {
          const mltrain::ShardRows r = mltrain::shard_rows(n, k, K);
          if (r.size() == 0) return 0.0f;
          at::Generator gen = mltrain::shard_generator(run.seed(), step, k);
          torch::Tensor l = torch::mse_loss(model->forward(xb.slice(0, r.begin, r.end), p, &gen),
                                            yb.slice(0, r.begin, r.end)) *
                            (static_cast<double>(r.size()) / static_cast<double>(n));
          l.backward();
          return l.item<float>();
        });
        sgd.step();
        json& st = run.state();  // before record_step: it may checkpoint
        st["loss_sum"] = st["loss_sum"].get<double>() + loss;
        st["steps"] = st["steps"].get<std::int64_t>() + 1;
        run.record_step(loss, lr);
      }
      val = mse(model, xv, yv);
      json& st = run.state();
      const double train = st["loss_sum"].get<double>() / st["steps"].get<double>();
      st = {{"loss_sum", 0.0}, {"steps", 0}};  // what the next epoch starts from
      run.record_epoch({{"train_mse", train}, {"val_mse", val}, {"lr", lr}});
      if (run.leader()) std::cout << "epoch " << epoch + 1 << " val_mse " << val << "\n";
    }
    const json summary = run.finish({{"val_mse", mse(model, xv, yv)}});
    if (run.leader())
      std::cout << "state_sha256 " << summary["state_sha256"].get<std::string>() << "\n";
  } catch (const mltrain::Error& e) {
    std::cerr << "mlp_regression: " << e.what() << "\n";
    return static_cast<int>(e.code());
  }
  return 0;
}
