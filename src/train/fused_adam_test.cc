#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <unistd.h>

#include "core/fs.h"
#include "mltrain/error.h"
#include "mltrain/optim.h"
#include "mltrain/run.h"
#include "mltrain/state_hash.h"
#include "run/checkpoint.h"
#include "train/step.h"

namespace mltrain {
namespace {

// Trains two copies of the same module, one with LibTorch's optimizer and one
// with FusedAdam, and returns the largest parameter difference.
double max_diff_after(bool decoupled, double wd, int steps) {
  torch::manual_seed(3);
  torch::nn::Linear a(40, 7), b(40, 7);
  {
    torch::NoGradGuard ng;
    b->weight.copy_(a->weight);
    b->bias.copy_(a->bias);
  }
  std::unique_ptr<torch::optim::Optimizer> ref;
  if (decoupled) {
    ref = std::make_unique<torch::optim::AdamW>(a->parameters(),
                                                torch::optim::AdamWOptions(0.01).weight_decay(wd));
  } else {
    ref = std::make_unique<torch::optim::Adam>(a->parameters(),
                                               torch::optim::AdamOptions(0.01).weight_decay(wd));
  }
  FusedAdam fused(b->parameters(), torch::optim::AdamOptions(0.01).weight_decay(wd), decoupled);
  for (int i = 0; i < steps; ++i) {
    torch::Tensor x = torch::randn({16, 40});
    ref->zero_grad();
    fused.zero_grad();
    a(x).pow(2).mean().backward();
    b(x).pow(2).mean().backward();
    ref->step();
    fused.step();
  }
  return std::max((a->weight - b->weight).abs().max().item<double>(),
                  (a->bias - b->bias).abs().max().item<double>());
}

TEST(FusedAdam, MatchesLibTorchAdam) {
  EXPECT_LT(max_diff_after(false, 0.0, 50), 1e-5);
  EXPECT_LT(max_diff_after(false, 0.01, 50), 1e-5);
}

TEST(FusedAdam, MatchesLibTorchAdamW) { EXPECT_LT(max_diff_after(true, 0.1, 50), 1e-5); }

TEST(FusedAdam, SameBitsForAnyThreadCount) {
  std::vector<std::string> hashes;
  const int before = at::get_num_threads();
  for (int threads : {1, 2, 3}) {
    at::set_num_threads(threads);
    torch::manual_seed(5);
    torch::nn::Linear m(300, 300);  // 90k weights: several parallel chunks
    FusedAdam opt(m->parameters(), torch::optim::AdamOptions(0.01), false);
    for (int i = 0; i < 5; ++i) {
      opt.zero_grad();
      m(torch::randn({8, 300})).sum().backward();
      opt.step();
    }
    hashes.push_back(state_sha256(*m));
  }
  at::set_num_threads(before);
  EXPECT_EQ(hashes[0], hashes[1]);
  EXPECT_EQ(hashes[0], hashes[2]);
}

// What train() checkpoints: FusedAdam's state (LibTorch's AdamParamState)
// round-trips through a checkpoint and the continuation is bit-exact.
TEST(FusedAdam, CheckpointRoundTripIsBitExact) {
  torch::manual_seed(1);
  torch::nn::Linear m(4, 2);
  FusedAdam opt(m->parameters(), torch::optim::AdamOptions(0.1), true);
  auto step = [](torch::nn::Linear& model, torch::optim::Optimizer& o) {
    o.zero_grad();
    model(torch::rand({3, 4})).sum().backward();
    o.step();
  };
  step(m, opt);
  char tmpl[] = "/tmp/mltrain_fa_XXXXXX";
  const std::string path = std::string(::mkdtemp(tmpl)) + "/last.pt";
  write_file_atomic(path, encode_checkpoint("r", *m, opt, CheckpointState{}, {}));
  step(m, opt);
  const std::string want = state_sha256(*m);
  torch::manual_seed(42);
  torch::nn::Linear m2(4, 2);
  FusedAdam opt2(m2->parameters(), torch::optim::AdamOptions(0.1), true);
  CheckpointState st;
  load_checkpoint(path, "r", *m2, opt2, &st, {});
  step(m2, opt2);
  EXPECT_EQ(state_sha256(*m2), want);
}

// The update is the formula below, element by element, bit for bit, whatever
// path computes it (eight lanes at a time with a scalar tail, or scalar):
// sizes around the lane width and odd ones, Adam and AdamW.
TEST(FusedAdam, BitsOfTheElementwiseFormula) {
  for (bool decoupled : {false, true}) {
    for (std::int64_t n : {1, 7, 8, 9, 15, 17, 1000, 40001}) {
      torch::manual_seed(static_cast<std::uint64_t>(n));
      torch::Tensor p = torch::randn({n}).requires_grad_(true);
      torch::Tensor p0 = p.detach().clone();
      const double lr = 0.01, wd = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8;
      FusedAdam opt({p}, torch::optim::AdamOptions(lr).weight_decay(wd), decoupled);
      std::vector<float> m(static_cast<std::size_t>(n), 0.0f), v(m), want(m);
      for (std::int64_t i = 0; i < n; ++i) want[static_cast<std::size_t>(i)] = p0[i].item<float>();
      for (int step = 1; step <= 3; ++step) {
        torch::Tensor g = torch::randn({n});
        p.mutable_grad() = g;
        opt.step();
        const double bc1 = 1.0 - std::pow(b1, step), bc2 = 1.0 - std::pow(b2, step);
        const float step_size = static_cast<float>(lr / bc1);
        const float inv = static_cast<float>(1.0 / std::sqrt(bc2));
        const float l2 = decoupled ? 0.0f : static_cast<float>(wd);
        const float decay = decoupled ? static_cast<float>(1.0 - lr * wd) : 1.0f;
        const float* gp = g.data_ptr<float>();
        for (std::size_t i = 0; i < want.size(); ++i) {
          const float gi = gp[i] + l2 * want[i];
          m[i] = static_cast<float>(b1) * m[i] + static_cast<float>(1.0 - b1) * gi;
          v[i] = static_cast<float>(b2) * v[i] + static_cast<float>(1.0 - b2) * gi * gi;
          want[i] = want[i] * decay -
                    step_size * m[i] / (std::sqrt(v[i]) * inv + static_cast<float>(eps));
        }
      }
      const float* got = p.data_ptr<float>();
      for (std::size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(got[i], want[i]) << "n " << n << " i " << i << " decoupled " << decoupled;
      }
    }
  }
}

// Updates two copies of the same parameters (sizes across the eight lanes
// and their tails) with the same gradients for `steps` steps, the first with
// FusedAdam's fused CPU loop, the second with `kernel` on `device`, and
// returns both as CPU tensors (each update depends on the moments exp_avg and
// exp_avg_sq the steps before left).
std::vector<torch::Tensor> adam_runs(bool decoupled, FusedAdam::Kernel kernel, torch::Device device,
                                     int steps) {
  torch::manual_seed(11);
  std::vector<torch::Tensor> a, b;
  for (std::int64_t n : {11100, 37, 8, 1}) {
    a.push_back(torch::randn({n}).requires_grad_(true));
    b.push_back(a.back().detach().to(device).requires_grad_(true));
  }
  const auto options = torch::optim::AdamOptions(0.01).weight_decay(0.05);
  FusedAdam fa(a, options, decoupled);
  FusedAdam fb(b, options, decoupled, kernel);
  for (int i = 0; i < steps; ++i) {
    for (std::size_t k = 0; k < a.size(); ++k) {
      a[k].mutable_grad() = torch::randn(a[k].sizes());
      b[k].mutable_grad() = a[k].grad().to(device);
    }
    fa.step();
    fb.step();
  }
  std::vector<torch::Tensor> out;
  for (std::size_t k = 0; k < a.size(); ++k) {
    out.push_back(torch::cat({a[k].detach(), b[k].detach().cpu()}));
  }
  return out;
}

// Whether the two halves of every tensor adam_runs returned are equal.
bool halves_equal(const std::vector<torch::Tensor>& ts) {
  for (const auto& t : ts) {
    const std::int64_t n = t.size(0) / 2;
    if (!torch::equal(t.narrow(0, 0, n), t.narrow(0, n, n))) return false;
  }
  return true;
}

// The tensor-op update (what FusedAdam runs on a GPU) gives the fused CPU
// loop's bits on the CPU: Adam and AdamW, several steps.
TEST(FusedAdam, TensorOpsGiveTheFusedBits) {
  for (bool decoupled : {false, true}) {
    EXPECT_TRUE(halves_equal(adam_runs(decoupled, FusedAdam::Kernel::kTensorOps, torch::kCPU, 6)))
        << "decoupled " << decoupled;
  }
}

// On a GPU (skipped without one) FusedAdam updates parameters there, with
// the CPU's bits (IEEE float add, mul, div and sqrt).
TEST(FusedAdam, CudaGivesTheCpuBits) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (bool decoupled : {false, true}) {
    EXPECT_TRUE(halves_equal(adam_runs(decoupled, FusedAdam::Kernel::kAuto, torch::kCUDA, 6)))
        << "decoupled " << decoupled;
  }
}

// train_step drops gradients instead of zeroing them; a parameter the loss
// does not reach must still get zeros, as zero_grad gave it, so that the
// optimizer updates it as before (here: L2 weight decay shrinks it).
class OneUnusedParameter : public ClassifierImpl {
 public:
  OneUnusedParameter() {
    fc_ = register_module("fc", torch::nn::Linear(3, 2));
    unused_ = register_parameter("unused", torch::ones({4}));
  }
  torch::Tensor forward(const Batch& b) override { return fc_(b.tokens.to(torch::kFloat)); }
  torch::nn::Linear fc_{nullptr};
  torch::Tensor unused_;
};

TEST(TrainStep, AParameterTheLossMissesGetsZerosNotNothing) {
  torch::manual_seed(1);
  OneUnusedParameter model;
  FusedAdam opt(model.parameters(), torch::optim::AdamOptions(0.1).weight_decay(0.5), false);
  Batch b;
  b.tokens = torch::randint(0, 5, {4, 3}, torch::kLong);
  b.labels = torch::tensor({0, 1, 1, 0}, torch::kLong);
  GradShards one(nullptr, model.parameters(), 1);
  for (int step = 1; step <= 3; ++step) train_step(model, opt, one, b, 42, step, 0.0);
  ASSERT_TRUE(model.unused_.grad().defined());
  EXPECT_TRUE(torch::equal(model.unused_.grad(), torch::zeros({4})));
  EXPECT_LT(model.unused_.max().item<float>(), 1.0f);  // weight decay moved it
}

// The sharded step reuses its buffers between steps: a parameter no shard
// reaches still gets zeros, and an empty shard adds zeros, not what the
// buffer held a step before (the same parameters as with fresh buffers).
TEST(TrainStep, ShardedStepReusesNothingStale) {
  auto shard = [](std::int64_t k, std::int64_t rows) {
    Batch p;
    p.tokens = torch::randint(0, 5, {rows, 3}, torch::kLong);
    p.labels = torch::randint(0, 2, {rows}, torch::kLong);
    p.shard = k;
    return p;
  };
  torch::manual_seed(3);
  Batch full, half;  // two steps: both shards, then shard 1 empty
  full.parts = {shard(0, 3), shard(1, 2)};
  full.examples = 5;
  half.parts = {shard(0, 3), shard(1, 0)};
  half.examples = 3;
  torch::manual_seed(1);
  OneUnusedParameter reused;
  torch::manual_seed(1);
  OneUnusedParameter fresh;
  FusedAdam opt_r(reused.parameters(), torch::optim::AdamOptions(0.1).weight_decay(0.5), false);
  FusedAdam opt_f(fresh.parameters(), torch::optim::AdamOptions(0.1).weight_decay(0.5), false);
  GradShards kept(nullptr, reused.parameters(), 2);
  for (int step = 1; step <= 4; ++step) {
    const Batch& b = step % 2 ? full : half;
    const float lr = train_step(reused, opt_r, kept, b, 42, step, 0.0);
    GradShards once(nullptr, fresh.parameters(), 2);
    const float lf = train_step(fresh, opt_f, once, b, 42, step, 0.0);
    EXPECT_EQ(lr, lf) << "step " << step;
    ASSERT_TRUE(reused.unused_.grad().defined());
    EXPECT_TRUE(torch::equal(reused.unused_.grad(), torch::zeros({4}))) << "step " << step;
  }
  EXPECT_TRUE(torch::equal(reused.fc_->weight, fresh.fc_->weight));
  EXPECT_TRUE(torch::equal(reused.unused_, fresh.unused_));
  EXPECT_LT(reused.unused_.max().item<float>(), 1.0f);  // weight decay moved it
}

TEST(TrainStep, NamesTheOpWithoutADeterministicKernel) {
  EXPECT_EQ(nondeterministic_op(
                "adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation, "
                "but you set 'torch.use_deterministic_algorithms(True)'."),
            "adaptive_avg_pool2d_backward_cuda");
  EXPECT_EQ(nondeterministic_op("frame #0\nindex_add_cuda_ does not have a deterministic "
                                "implementation, but ..."),
            "index_add_cuda_");
  EXPECT_EQ(nondeterministic_op("CUDA out of memory"), "");
}

// runtime.device on a machine without a GPU: cpu and auto train on the CPU,
// a GPU asked for is one clear error naming the key.
TEST(TrainStep, DeviceResolution) {
  EXPECT_EQ(resolve_device("cpu"), "cpu");
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is visible";
  EXPECT_EQ(resolve_device("auto"), "cpu");
  for (const char* spec : {"cuda", "cuda:1"}) {
    try {
      resolve_device(spec);
      FAIL() << spec;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      EXPECT_NE(std::string(e.what()).find("key 'runtime.device'"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace mltrain
