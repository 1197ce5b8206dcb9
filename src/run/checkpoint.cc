#include "run/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstring>
#include <mutex>
#include <sstream>

#include "core/fs.h"
#include "core/hash.h"
#include "core/json_io.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

const char* kMagic = "ml-train-checkpoint";
const char* kWeightsMagic = "ml-train-weights";

std::string short_what(const std::exception& e) {
  std::string s = e.what();
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string archive_bytes(torch::serialize::OutputArchive& ar) {
  std::ostringstream buf;
  ar.save_to(buf);
  return buf.str();
}

// Shapes and dtypes of every tensor of a module's state, to check a load
// against: LibTorch's Module::load resizes tensors silently.
std::vector<std::pair<std::string, std::string>> tensor_shapes(torch::nn::Module& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : m.named_parameters()) {
    out.emplace_back(p.key(), c10::str(p.value().sizes(), " ", p.value().dtype()));
  }
  for (const auto& b : m.named_buffers()) {
    out.emplace_back(b.key(), c10::str(b.value().sizes(), " ", b.value().dtype()));
  }
  return out;
}

void check_same_shapes(const std::string& path, const char* problem,
                       const std::vector<std::pair<std::string, std::string>>& before,
                       torch::nn::Module& m) {
  const auto after = tensor_shapes(m);
  for (std::size_t i = 0; i < before.size() && i < after.size(); ++i) {
    if (before[i] != after[i]) {
      fail_usage(path + ": " + problem + ": '" + before[i].first + "' is " + after[i].second +
                 " in the file, " + before[i].second +
                 " in the model (check model.* and the vocabulary)");
    }
  }
}

// Optimizer state of the shape of its parameter (Adam's moments, SGD's
// momentum): LibTorch would fail deep inside the next step otherwise.
void check_optimizer_state(const std::string& path, torch::optim::Optimizer& opt) {
  for (const auto& group : opt.param_groups()) {
    for (const auto& p : group.params()) {
      auto it = opt.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == opt.state().end()) continue;
      std::vector<torch::Tensor> tensors;
      if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
        tensors = {a->exp_avg(), a->exp_avg_sq()};
        if (a->step() < 0) fail_usage(path + ": optimizer state has a negative step count");
      } else if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
        if (s->momentum_buffer().defined()) tensors = {s->momentum_buffer()};
      }
      for (const auto& t : tensors) {
        if (t.sizes() != p.sizes()) {
          fail_usage(path + ": optimizer state of shape " + c10::str(t.sizes()) +
                     " for a parameter of shape " + c10::str(p.sizes()));
        }
      }
    }
  }
}

struct Header {
  std::string run_id;
  std::int64_t step = 0;
  std::uint64_t payload_bytes = 0;
  std::string payload_sha256;
};

// Splits a checkpoint file into its verified header and payload.
Header read_verified(const std::string& path, const std::string& run_id, std::string* bytes) {
  if (!path_exists(path)) fail_usage(path + ": checkpoint not found");
  *bytes = read_file(path);
  const std::string magic_line = std::string(kMagic) + " " + std::to_string(kCheckpointVersion);
  const auto nl1 = bytes->find('\n');
  const std::string first = bytes->substr(0, nl1 == std::string::npos ? 0 : nl1);
  if (first.rfind(kMagic, 0) != 0) fail_usage(path + ": not an ml-train checkpoint (bad magic)");
  if (first != magic_line) {
    fail_usage(path + ": unsupported checkpoint version '" + first.substr(std::strlen(kMagic)) +
               "' (this ml-train reads version " + std::to_string(kCheckpointVersion) + ")");
  }
  const auto nl2 = bytes->find('\n', nl1 + 1);
  if (nl2 == std::string::npos) fail_usage(path + ": corrupt checkpoint (truncated header)");
  Header h;
  try {
    json j = json::parse(bytes->begin() + static_cast<long>(nl1 + 1),
                         bytes->begin() + static_cast<long>(nl2));
    h.run_id = j.at("run_id").get<std::string>();
    h.step = j.at("step").get<std::int64_t>();
    h.payload_bytes = j.at("payload_bytes").get<std::uint64_t>();
    h.payload_sha256 = j.at("payload_sha256").get<std::string>();
  } catch (const json::exception&) {
    fail_usage(path + ": corrupt checkpoint (unreadable header)");
  }
  if (h.run_id != run_id) {
    fail_usage(path + ": checkpoint belongs to run " + h.run_id + ", not " + run_id);
  }
  bytes->erase(0, nl2 + 1);
  if (bytes->size() != h.payload_bytes) {
    fail_usage(path + ": corrupt checkpoint (" + std::to_string(bytes->size()) +
               " payload bytes, the header says " + std::to_string(h.payload_bytes) + ")");
  }
  if (sha256_hex(*bytes) != h.payload_sha256) {
    fail_usage(path + ": corrupt checkpoint (payload sha256 does not match its header)");
  }
  if (h.step < 0) fail_usage(path + ": corrupt checkpoint (negative step)");
  return h;
}

}  // namespace

std::string encode_checkpoint(const std::string& run_id, torch::nn::Module& model,
                              torch::optim::Optimizer& optimizer, const CheckpointState& st,
                              const NamedGenerators& generators) {
  torch::serialize::OutputArchive ar, m, o;
  model.save(m);
  optimizer.save(o);
  ar.write("model", m);
  ar.write("optimizer", o);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    ar.write("cpu_rng", gen.get_state());
  }
  for (const auto& g : generators) {
    at::Generator gen = g.second;
    std::lock_guard<std::mutex> lock(gen.mutex());
    ar.write("generator." + g.first, gen.get_state());
  }
  ar.write("pos",
           torch::tensor({st.epoch, st.batch, st.step, static_cast<std::int64_t>(st.metrics_bytes),
                          static_cast<std::int64_t>(st.trace_bytes)},
                         torch::kInt64));
  ar.write("elapsed", torch::tensor({st.elapsed_seconds}, torch::kFloat64));
  ar.write("state", c10::IValue(json_line(st.user)));
  const std::string payload = archive_bytes(ar);
  const json header = {{"run_id", run_id},
                       {"step", st.step},
                       {"payload_bytes", payload.size()},
                       {"payload_sha256", sha256_hex(payload)}};
  return std::string(kMagic) + " " + std::to_string(kCheckpointVersion) + "\n" + header.dump() +
         "\n" + payload;
}

std::int64_t check_checkpoint(const std::string& path, const std::string& run_id) {
  std::string payload;
  return read_verified(path, run_id, &payload).step;
}

void load_checkpoint(const std::string& path, const std::string& run_id, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, CheckpointState* st,
                     const NamedGenerators& generators) {
  std::string payload;
  const Header h = read_verified(path, run_id, &payload);
  const auto shapes = tensor_shapes(model);
  try {
    torch::serialize::InputArchive ar, m, o;
    ar.load_from(payload.data(), payload.size());
    ar.read("model", m);
    ar.read("optimizer", o);
    model.load(m);
    check_same_shapes(path, "the checkpoint does not fit this model", shapes, model);
    optimizer.load(o);
    check_optimizer_state(path, optimizer);
    torch::Tensor rng, pos, elapsed;
    ar.read("cpu_rng", rng);
    ar.read("pos", pos);
    ar.read("elapsed", elapsed);
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
    for (const auto& g : generators) {
      torch::Tensor s;
      if (!ar.try_read("generator." + g.first, s)) {
        fail_usage(path + ": checkpoint has no state for generator '" + g.first + "'");
      }
      at::Generator gen = g.second;
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(s);
    }
    if (pos.scalar_type() != torch::kInt64 || pos.dim() != 1 || pos.size(0) != 5 ||
        elapsed.scalar_type() != torch::kFloat64 || elapsed.numel() != 1) {
      fail_usage(path + ": corrupt checkpoint (bad position record)");
    }
    auto pa = pos.accessor<std::int64_t, 1>();
    for (int i = 0; i < 5; ++i) {
      if (pa[i] < 0) fail_usage(path + ": corrupt checkpoint (negative position field)");
    }
    if (pa[2] != h.step) fail_usage(path + ": corrupt checkpoint (step differs from its header)");
    st->epoch = pa[0];
    st->batch = pa[1];
    st->step = pa[2];
    st->metrics_bytes = static_cast<std::uint64_t>(pa[3]);
    st->trace_bytes = static_cast<std::uint64_t>(pa[4]);
    st->elapsed_seconds = elapsed.item<double>();
    c10::IValue user;
    if (!ar.try_read("state", user) || !user.isString()) {
      fail_usage(path + ": corrupt checkpoint (no loop state)");
    }
    st->user = parse_json(user.toStringRef(), path + " (loop state)");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail_usage(path + ": checkpoint does not fit this run (" + short_what(e) + ")");
  }
}

void save_weights(const std::string& path, torch::nn::Module& model) {
  torch::serialize::OutputArchive ar, m;
  ar.write("magic", c10::IValue(std::string(kWeightsMagic)));
  ar.write("version", c10::IValue(static_cast<std::int64_t>(1)));
  model.save(m);
  ar.write("model", m);
  write_file_atomic(path, archive_bytes(ar));
}

namespace {

void open_weights(const std::string& path, torch::serialize::InputArchive* ar) {
  if (!path_exists(path)) fail_usage(path + ": model file not found");
  if (is_directory(path)) fail_usage(path + ": is a directory, expected a model file");
  try {
    ar->load_from(path);
  } catch (const std::exception& e) {
    fail_usage(path + ": corrupt or unreadable model file (" + short_what(e) + ")");
  }
  c10::IValue magic;
  if (!ar->try_read("magic", magic) || !magic.isString() || magic.toStringRef() != kWeightsMagic) {
    fail_usage(path + ": not an ml-train model file (bad magic)");
  }
}

}  // namespace

void check_weights_file(const std::string& path) {
  torch::serialize::InputArchive ar;
  open_weights(path, &ar);
}

void load_weights(const std::string& path, torch::nn::Module& model) {
  torch::serialize::InputArchive ar;
  open_weights(path, &ar);
  const auto shapes = tensor_shapes(model);
  try {
    torch::serialize::InputArchive m;
    ar.read("model", m);
    model.load(m);
  } catch (const std::exception& e) {
    fail_usage(path + ": weights do not fit this model (" + short_what(e) + ")");
  }
  check_same_shapes(path, "weights do not fit this model", shapes, model);
}

}  // namespace mltrain
