#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <mutex>
#include <sstream>

#include "mltrain/error.h"
#include "mltrain/fs.h"

namespace mltrain {
namespace {

const char* kMagic = "ml-train-checkpoint";
const char* kWeightsMagic = "ml-train-weights";

std::string short_what(const std::exception& e) {
  std::string s = e.what();
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

void write_archive_atomic(const std::string& path, torch::serialize::OutputArchive& ar) {
  std::ostringstream buf;
  ar.save_to(buf);
  write_file_atomic(path, buf.str());
}

}  // namespace

void save_checkpoint(const std::string& path, const std::string& run_id, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const TrainPosition& pos) {
  torch::serialize::OutputArchive ar;
  ar.write("magic", c10::IValue(std::string(kMagic)));
  ar.write("version", c10::IValue(kCheckpointVersion));
  ar.write("run_id", c10::IValue(run_id));
  torch::serialize::OutputArchive m, o;
  model.save(m);
  optimizer.save(o);
  ar.write("model", m);
  ar.write("optimizer", o);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    ar.write("cpu_rng", gen.get_state());
  }
  ar.write("pos", torch::tensor({pos.epoch, pos.batch, pos.step,
                                 static_cast<std::int64_t>(pos.metrics_bytes),
                                 static_cast<std::int64_t>(pos.trace_bytes),
                                 pos.epoch_loss_count},
                                torch::kInt64));
  ar.write("acc", torch::tensor({pos.epoch_loss_sum, pos.elapsed_seconds}, torch::kFloat64));
  write_archive_atomic(path, ar);
}

void load_checkpoint(const std::string& path, const std::string& run_id, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, TrainPosition* pos) {
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path);
  } catch (const std::exception& e) {
    fail_usage(path + ": corrupt or unreadable checkpoint (" + short_what(e) + ")");
  }
  c10::IValue magic, version, rid;
  if (!ar.try_read("magic", magic) || !magic.isString() || magic.toStringRef() != kMagic) {
    fail_usage(path + ": not an ml-train checkpoint (bad magic)");
  }
  if (!ar.try_read("version", version) || !version.isInt() ||
      version.toInt() != kCheckpointVersion) {
    fail_usage(path + ": unsupported checkpoint version (expected " +
               std::to_string(kCheckpointVersion) + ")");
  }
  if (!ar.try_read("run_id", rid) || !rid.isString() || rid.toStringRef() != run_id) {
    fail_usage(path + ": checkpoint belongs to run " +
               (rid.isString() ? rid.toStringRef() : std::string("?")) + ", not " + run_id);
  }
  try {
    torch::serialize::InputArchive m, o;
    ar.read("model", m);
    ar.read("optimizer", o);
    model.load(m);
    optimizer.load(o);
    torch::Tensor rng, p, acc;
    ar.read("cpu_rng", rng);
    ar.read("pos", p);
    ar.read("acc", acc);
    auto gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
    auto pa = p.accessor<std::int64_t, 1>();
    pos->epoch = pa[0];
    pos->batch = pa[1];
    pos->step = pa[2];
    pos->metrics_bytes = static_cast<std::uint64_t>(pa[3]);
    pos->trace_bytes = static_cast<std::uint64_t>(pa[4]);
    pos->epoch_loss_count = pa[5];
    auto aa = acc.accessor<double, 1>();
    pos->epoch_loss_sum = aa[0];
    pos->elapsed_seconds = aa[1];
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail_usage(path + ": checkpoint does not fit this run's model (" + short_what(e) + ")");
  }
}

void save_weights(const std::string& path, torch::nn::Module& model) {
  torch::serialize::OutputArchive ar, m;
  ar.write("magic", c10::IValue(std::string(kWeightsMagic)));
  ar.write("version", c10::IValue(kCheckpointVersion));
  model.save(m);
  ar.write("model", m);
  write_archive_atomic(path, ar);
}

void load_weights(const std::string& path, torch::nn::Module& model) {
  if (!path_exists(path)) fail_usage(path + ": model file not found");
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path);
  } catch (const std::exception& e) {
    fail_usage(path + ": corrupt or unreadable model file (" + short_what(e) + ")");
  }
  c10::IValue magic;
  if (!ar.try_read("magic", magic) || !magic.isString() || magic.toStringRef() != kWeightsMagic) {
    fail_usage(path + ": not an ml-train model file (bad magic)");
  }
  // LibTorch's Module::load resizes tensors silently; check shapes ourselves.
  std::vector<std::vector<std::int64_t>> before;
  for (const auto& p : model.named_parameters()) before.push_back(p.value().sizes().vec());
  try {
    torch::serialize::InputArchive m;
    ar.read("model", m);
    model.load(m);
  } catch (const std::exception& e) {
    fail_usage(path + ": weights do not fit this model (" + short_what(e) + ")");
  }
  std::size_t i = 0;
  for (const auto& p : model.named_parameters()) {
    if (p.value().sizes().vec() != before[i++]) {
      fail_usage(path + ": weights do not fit this model: '" + p.key() + "' has shape " +
                 c10::str(p.value().sizes()) + " in the file (check model.* and the vocabulary)");
    }
  }
}

}  // namespace mltrain
