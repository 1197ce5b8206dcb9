// Writes valid checkpoints and weight files for the model fuzz_checkpoint
// loads into, as the seeds of its corpus: `make_checkpoint_seeds DIR`.
#include <torch/torch.h>

#include <iostream>

#include "core/fs.h"
#include "run/checkpoint.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_checkpoint_seeds DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  mltrain::make_dirs(dir);
  torch::manual_seed(1);
  torch::nn::Linear model(4, 2);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.1));
  at::Generator gen = at::detail::createCPUGenerator(1);
  mltrain::CheckpointState st;
  st.user = {{"epoch_loss_sum", 0.5}, {"epoch_loss_count", 3}};
  mltrain::write_file_atomic(dir + "/fresh.pt",
                             mltrain::encode_checkpoint("fuzz0001", *model, opt, st, {}));
  opt.zero_grad();
  model(torch::rand({3, 4})).sum().backward();
  opt.step();
  st.epoch = 1;
  st.batch = 2;
  st.step = 7;
  mltrain::write_file_atomic(
      dir + "/stepped.pt",
      mltrain::encode_checkpoint("fuzz0001", *model, opt, st, {{"data", gen}}));
  mltrain::save_weights(dir + "/model.pt", *model);
  return 0;
}
