#include "train/checkpoint.h"
#include "train/fused_adam.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <fstream>

#include "mltrain/error.h"
#include "mltrain/fs.h"
#include "mltrain/state_hash.h"

namespace mltrain {
namespace {

std::string temp_path(const std::string& name) {
  char tmpl[] = "/tmp/mltrain_ck_XXXXXX";
  return std::string(::mkdtemp(tmpl)) + "/" + name;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    return e.what();
  }
  return "";
}

TEST(Checkpoint, RoundTripRestoresEverything) {
  torch::manual_seed(1);
  torch::nn::Linear m(4, 2);
  FusedAdam opt(m->parameters(), torch::optim::AdamOptions(0.1), false);  // what train() uses
  auto step = [&] {
    opt.zero_grad();
    m(torch::rand({3, 4})).sum().backward();
    opt.step();
  };
  step();
  TrainPosition pos;
  pos.epoch = 2;
  pos.batch = 7;
  pos.step = 31;
  pos.trace_bytes = 1234;
  pos.metrics_bytes = 567;
  pos.elapsed_seconds = 8.5;
  pos.epoch_loss_sum = 0.125;
  pos.epoch_loss_count = 7;
  std::string path = temp_path("last.pt");
  save_checkpoint(path, "abcd1234", *m, opt, pos);
  // The uninterrupted continuation.
  step();
  std::string want = state_sha256(*m);

  torch::manual_seed(99);  // scramble the generator and the weights
  torch::nn::Linear m2(4, 2);
  FusedAdam opt2(m2->parameters(), torch::optim::AdamOptions(0.1), false);
  TrainPosition got;
  load_checkpoint(path, "abcd1234", *m2, opt2, &got);
  EXPECT_EQ(got.epoch, 2);
  EXPECT_EQ(got.batch, 7);
  EXPECT_EQ(got.step, 31);
  EXPECT_EQ(got.trace_bytes, 1234u);
  EXPECT_EQ(got.metrics_bytes, 567u);
  EXPECT_EQ(got.elapsed_seconds, 8.5);
  EXPECT_EQ(got.epoch_loss_sum, 0.125);
  EXPECT_EQ(got.epoch_loss_count, 7);
  opt2.zero_grad();
  m2(torch::rand({3, 4})).sum().backward();  // same generator state => same input
  opt2.step();
  EXPECT_EQ(state_sha256(*m2), want);
}

TEST(Checkpoint, RejectsForeignCorruptAndOtherRunFiles) {
  torch::nn::Linear m(4, 2);
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
  std::string path = temp_path("last.pt");
  save_checkpoint(path, "run00001", *m, opt, TrainPosition{});
  TrainPosition p;
  EXPECT_NE(error_of([&] { load_checkpoint(path, "run00002", *m, opt, &p); })
                .find("belongs to run run00001"),
            std::string::npos);

  std::string bytes = read_file(path);
  write_file_atomic(path, bytes.substr(0, bytes.size() / 2));  // torn file
  EXPECT_NE(error_of([&] { load_checkpoint(path, "run00001", *m, opt, &p); }).find("corrupt"),
            std::string::npos);

  save_weights(path, *m);  // a weights file is not a checkpoint
  EXPECT_NE(error_of([&] { load_checkpoint(path, "run00001", *m, opt, &p); }).find("bad magic"),
            std::string::npos);
}

TEST(Checkpoint, WeightsMustFitTheModel) {
  torch::nn::Linear small(4, 2), big(8, 2);
  std::string path = temp_path("model.pt");
  save_weights(path, *small);
  EXPECT_NE(error_of([&] { load_weights(path, *big); }).find("do not fit"), std::string::npos);
  EXPECT_NE(error_of([&] { load_weights(path + ".missing", *big); }).find("not found"),
            std::string::npos);
}

}  // namespace
}  // namespace mltrain
