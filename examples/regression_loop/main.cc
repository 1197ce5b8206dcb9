// A regression loop of your own on ml-train's Run API: nothing here is a
// classifier, and the experiment tools show what it records.
//
//   regression_loop [--seed N] [OUTPUT_DIR]    the run goes to OUTPUT_DIR/<run_id>/ (default: runs)
//   regression_loop [--seed N] --run-dir DIR   exactly there (what `verify -- ...` gives it)
//
// A small MLP (4 -> 32 -> 1) fits y = sin(x0) + x1 x2 / 2 - x3 on synthetic
// data drawn from the run's seed. It records val_mse, val_mae and val_r2
// per epoch (record_epoch) and at the end (finish), so that
//   ml-train verify --output-dir runs -- regression_loop --run-dir {run_dir}
//   ml-train runs --output-dir runs --sort val_mse     (lower is better: ascending)
//   ml-train report runs
// list, sort and chart val_mse like any metric, and show the run "verified".
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>

#include "mltrain/mltrain.h"

using json = nlohmann::json;

namespace {

constexpr std::int64_t kTrain = 384, kVal = 128, kBatch = 32, kEpochs = 4;

// (N, 4) inputs and (N, 1) targets, a function of the seed only.
void make_data(std::uint64_t seed, torch::Tensor* x, torch::Tensor* y) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  *x = torch::randn({kTrain + kVal, 4}, g);
  const torch::Tensor noise = torch::randn({kTrain + kVal}, g) * 0.05;
  *y = (torch::sin(x->select(1, 0)) + 0.5 * x->select(1, 1) * x->select(1, 2) - x->select(1, 3) +
        noise)
           .unsqueeze(1);
}

struct MlpImpl : torch::nn::Module {
  MlpImpl()
      : hidden(register_module("hidden", torch::nn::Linear(4, 32))),
        out(register_module("out", torch::nn::Linear(32, 1))) {}
  torch::Tensor forward(const torch::Tensor& x) {                        // (B, 4) -> (B, 1)
    torch::Tensor h = mltrain::probe("hidden", torch::tanh(hidden(x)));  // (B, 32)
    return mltrain::probe("out", out(h));
  }
  torch::nn::Linear hidden, out;
};
TORCH_MODULE(Mlp);

// Mean squared and absolute error and R^2 of the model on (x, y).
json evaluate(Mlp& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  const torch::Tensor err = model->forward(x) - y;  // (N, 1)
  const double mse = err.pow(2).mean().item<double>();
  const double var = (y - y.mean()).pow(2).mean().item<double>();
  return {
      {"val_mse", mse}, {"val_mae", err.abs().mean().item<double>()}, {"val_r2", 1 - mse / var}};
}

}  // namespace

int main(int argc, char** argv) {
  mltrain::RunOptions options;
  std::int64_t seed = 5;
  bool usage = false;
  for (int i = 1; i < argc && !usage; ++i) {
    const std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) {
      seed = std::atoll(argv[++i]);
    } else if (a == "--run-dir" && i + 1 < argc) {
      options.dir = argv[++i];
    } else if (a[0] != '-') {
      options.output_dir = a;
    } else {
      usage = true;
    }
  }
  if (usage) {
    std::cerr << "usage: regression_loop [--seed N] [OUTPUT_DIR | --run-dir DIR]\n";
    return 2;
  }
  try {
    const json identity = {{"seed", seed},          {"deterministic", true},
                           {"task", "regression"},  {"data", "sin-384"},
                           {"model", "mlp-4-32-1"}, {"epochs", kEpochs},
                           {"batch_size", kBatch},  {"lr", 0.01}};
    options.checkpoint_every = 8;
    options.trace_every = 4;
    options.epochs = kEpochs;
    options.steps_per_epoch = kTrain / kBatch;
    options.command_line.assign(argv, argv + argc);
    mltrain::Run run = mltrain::Run::open(identity, options);  // seeds every generator
    std::cout << "run " << run.id() << "  " << run.dir() << "\n";
    if (run.completed()) {
      std::cout << "already completed: val_mse " << run.summary()["val_mse"] << "\n";
      return 0;
    }
    torch::Tensor x, y;
    make_data(run.seed(), &x, &y);
    const torch::Tensor x_train = x.slice(0, 0, kTrain), y_train = y.slice(0, 0, kTrain);
    const torch::Tensor x_val = x.slice(0, kTrain), y_val = y.slice(0, kTrain);

    Mlp model;
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.01));
    const mltrain::RunPosition start = run.resume(*model, opt);
    json& st = run.state();  // the epoch's running loss, kept in checkpoints
    if (!start.resumed()) st = {{"loss_sum", 0.0}, {"batches", 0}};

    for (std::int64_t epoch = start.epoch; epoch < kEpochs; ++epoch) {
      // The epoch's order depends on (seed, epoch) only, so a resumed run
      // continues with the same batches.
      at::Generator shuffle = at::detail::createCPUGenerator(run.seed() * 1000 + epoch);
      const torch::Tensor order = torch::randperm(kTrain, shuffle);
      for (std::int64_t b = epoch == start.epoch ? start.batch : 0; b < kTrain / kBatch; ++b) {
        const torch::Tensor idx = order.slice(0, b * kBatch, (b + 1) * kBatch);
        run.record_input("batch", idx);
        const torch::Tensor loss = torch::mse_loss(model->forward(x_train.index_select(0, idx)),
                                                   y_train.index_select(0, idx));
        opt.zero_grad();
        loss.backward();
        opt.step();
        st["loss_sum"] = st["loss_sum"].get<double>() + loss.item<double>();
        st["batches"] = st["batches"].get<std::int64_t>() + 1;
        run.record_step(loss.item<float>(), 0.01);
      }
      json metrics = evaluate(model, x_val, y_val);
      metrics["train_loss"] = st["loss_sum"].get<double>() / st["batches"].get<double>();
      st = {{"loss_sum", 0.0}, {"batches", 0}};
      run.record_epoch(metrics);
      std::cout << "epoch " << epoch + 1 << "  val_mse " << metrics["val_mse"] << "\n";
    }
    const json summary = run.finish(evaluate(model, x_val, y_val));
    std::cout << "val_mse " << summary["val_mse"] << "  state_sha256 "
              << summary["state_sha256"].get<std::string>() << "\n";
  } catch (const mltrain::Error& e) {
    std::cerr << "regression_loop: " << e.what() << "\n";
    return static_cast<int>(e.code());
  }
  return 0;
}
