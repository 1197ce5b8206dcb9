// Fuzzes the checkpoint reader: header, checksum, the archive behind them
// and restoring into a model and optimizer. Anything but an mltrain::Error is
// a finding.
#include <torch/torch.h>

#include "fuzz_common.h"
#include "mltrain/error.h"
#include "run/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = mltrain::fuzz::write("last.pt", mltrain::fuzz::as_string(data, size));
  static torch::nn::Linear model(4, 2);
  static torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.1));
  static at::Generator gen = at::detail::createCPUGenerator(1);
  try {
    mltrain::check_checkpoint(path, "fuzz0001");
    mltrain::CheckpointState st;
    mltrain::load_checkpoint(path, "fuzz0001", *model, opt, &st, {{"data", gen}});
  } catch (const mltrain::Error&) {
  }
  try {
    mltrain::check_weights_file(path);
    mltrain::load_weights(path, *model);
  } catch (const mltrain::Error&) {
  }
  return 0;
}
