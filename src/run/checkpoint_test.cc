#include "run/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <functional>

#include "core/fs.h"
#include "mltrain/error.h"
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
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(0.1));
  at::Generator mine = at::detail::createCPUGenerator(7);
  auto step = [&](torch::nn::Linear& model, torch::optim::Optimizer& o, at::Generator& g) {
    o.zero_grad();
    model(torch::rand({3, 4}) + torch::rand({3, 4}, g)).sum().backward();
    o.step();
  };
  step(m, opt, mine);
  CheckpointState st;
  st.epoch = 2;
  st.batch = 7;
  st.step = 31;
  st.trace_bytes = 1234;
  st.metrics_bytes = 567;
  st.elapsed_seconds = 8.5;
  st.user = {{"sum", 0.1 + 0.2}, {"count", 7}};
  const std::string path = temp_path("last.pt");
  write_file_atomic(path, encode_checkpoint("abcd1234", *m, opt, st, {{"mine", mine}}));
  EXPECT_EQ(check_checkpoint(path, "abcd1234"), 31);
  // The uninterrupted continuation.
  step(m, opt, mine);
  const std::string want = state_sha256(*m);

  torch::manual_seed(99);  // scramble the generators and the weights
  torch::nn::Linear m2(4, 2);
  torch::optim::Adam opt2(m2->parameters(), torch::optim::AdamOptions(0.1));
  at::Generator mine2 = at::detail::createCPUGenerator(12345);
  CheckpointState got;
  load_checkpoint(path, "abcd1234", *m2, opt2, &got, {{"mine", mine2}});
  EXPECT_EQ(got.epoch, 2);
  EXPECT_EQ(got.batch, 7);
  EXPECT_EQ(got.step, 31);
  EXPECT_EQ(got.trace_bytes, 1234u);
  EXPECT_EQ(got.metrics_bytes, 567u);
  EXPECT_EQ(got.elapsed_seconds, 8.5);
  EXPECT_EQ(got.user["sum"].get<double>(), 0.1 + 0.2);  // bit-exact
  EXPECT_EQ(got.user["count"], 7);
  step(m2, opt2, mine2);  // same generators' state => same inputs
  EXPECT_EQ(state_sha256(*m2), want);
}

TEST(Checkpoint, RejectsForeignCorruptAndOtherRunFiles) {
  torch::nn::Linear m(4, 2);
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
  const std::string path = temp_path("last.pt");
  const std::string bytes = encode_checkpoint("run00001", *m, opt, CheckpointState{}, {});
  write_file_atomic(path, bytes);
  CheckpointState p;
  EXPECT_NE(error_of([&] {
              load_checkpoint(path, "run00002", *m, opt, &p, {});
            }).find("belongs to run run00001"),
            std::string::npos);

  write_file_atomic(path, bytes.substr(0, bytes.size() / 2));  // torn file
  EXPECT_NE(error_of([&] { check_checkpoint(path, "run00001"); }).find("corrupt checkpoint"),
            std::string::npos);

  // One flipped bit anywhere in the payload is caught by the checksum.
  for (std::size_t at : {bytes.size() - 1, bytes.size() / 2, bytes.find('\n', 30) + 10}) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    write_file_atomic(path, flipped);
    EXPECT_NE(error_of([&] { load_checkpoint(path, "run00001", *m, opt, &p, {}); }).find("corrupt"),
              std::string::npos)
        << "flip at " << at;
  }

  save_weights(path, *m);  // a weights file is not a checkpoint
  EXPECT_NE(error_of([&] { check_checkpoint(path, "run00001"); }).find("bad magic"),
            std::string::npos);
  write_file_atomic(path, "ml-train-checkpoint 1\n{}\n");
  EXPECT_NE(
      error_of([&] { check_checkpoint(path, "run00001"); }).find("unsupported checkpoint version"),
      std::string::npos);
}

TEST(Checkpoint, MustFitTheModelAndTheGenerators) {
  torch::nn::Linear small(4, 2), big(8, 2);
  torch::optim::SGD so(small->parameters(), torch::optim::SGDOptions(0.1));
  torch::optim::SGD bo(big->parameters(), torch::optim::SGDOptions(0.1));
  const std::string path = temp_path("last.pt");
  write_file_atomic(path, encode_checkpoint("r", *small, so, CheckpointState{}, {}));
  CheckpointState p;
  EXPECT_NE(error_of([&] { load_checkpoint(path, "r", *big, bo, &p, {}); }).find("does not fit"),
            std::string::npos);
  at::Generator g = at::detail::createCPUGenerator(1);
  EXPECT_NE(error_of([&] {
              load_checkpoint(path, "r", *small, so, &p, {{"extra", g}});
            }).find("no state for generator 'extra'"),
            std::string::npos);
}

TEST(Checkpoint, WeightsMustFitTheModel) {
  torch::nn::Linear small(4, 2), big(8, 2);
  const std::string path = temp_path("model.pt");
  save_weights(path, *small);
  check_weights_file(path);
  EXPECT_NE(error_of([&] { load_weights(path, *big); }).find("do not fit"), std::string::npos);
  EXPECT_NE(error_of([&] { load_weights(path + ".missing", *big); }).find("not found"),
            std::string::npos);
  write_file_atomic(path, "garbage");
  EXPECT_NE(error_of([&] { check_weights_file(path); }).find("not an ml-train model file"),
            std::string::npos);
  // A flipped bit in the weights is caught before LibTorch parses anything.
  save_weights(path, *small);
  std::string bytes = read_file(path);
  bytes[bytes.size() - 200] = static_cast<char>(bytes[bytes.size() - 200] ^ 4);
  write_file_atomic(path, bytes);
  EXPECT_NE(error_of([&] { check_weights_file(path); }).find("corrupt model file"),
            std::string::npos);
}

}  // namespace
}  // namespace mltrain
