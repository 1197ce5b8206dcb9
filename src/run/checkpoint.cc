#include "run/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstring>
#include <mutex>
#include <sstream>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/error.h"
#include "mltrain/files.h"
#include "mltrain/records.h"
#include "mltrain/state_hash.h"
#include "mltrain/torch_compat.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

const char* kMagic = "ml-train-checkpoint";
const char* kWeightsMagic = "ml-train-weights";
constexpr std::int64_t kWeightsVersion = 2;

// Where a module's tensors live (the first parameter's or buffer's device;
// the CPU for a module without tensors): archives are read onto it, so a
// checkpoint saved on one device loads on the other.
c10::optional<torch::Device> device_of(torch::nn::Module& m) {
  for (const auto& p : m.parameters()) return p.device();
  for (const auto& b : m.buffers()) return b.device();
  return torch::Device(torch::kCPU);
}

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
      auto it = opt.state().find(optimizer_state_key(opt, p));
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

// The envelope of a checkpoint or weights file: "MAGIC VERSION\n", a JSON
// header line (with payload_bytes and payload_sha256), the payload. `what`
// names the kind of file in errors ("checkpoint", "model file").
std::string envelope(const char* magic, std::int64_t version, json header,
                     const std::string& payload) {
  header["payload_bytes"] = payload.size();
  header["payload_sha256"] = sha256_hex(payload);
  return std::string(magic) + " " + std::to_string(version) + "\n" + header.dump() + "\n" + payload;
}

// Reads and verifies an envelope; returns its header and leaves the payload
// in *payload. Nothing of the payload is parsed before its checksum matched.
json parse_envelope(const std::string& path, const char* magic, std::int64_t version,
                    const std::string& what, std::string* payload);

json open_envelope(const std::string& path, const char* magic, std::int64_t version,
                   const std::string& what, std::string* payload) {
  if (!path_exists(path)) fail_usage(path + ": " + what + " not found");
  if (is_directory(path)) fail_usage(path + ": is a directory, expected a " + what);
  *payload = read_file(path);
  return parse_envelope(path, magic, version, what, payload);
}

// *payload holds the whole envelope; `path` names it in errors.
json parse_envelope(const std::string& path, const char* magic, std::int64_t version,
                    const std::string& what, std::string* payload) {
  const auto nl1 = payload->find('\n');
  const std::string first = payload->substr(0, nl1 == std::string::npos ? 0 : nl1);
  if (first.rfind(magic, 0) != 0) {
    fail_usage(path + ": not an ml-train " + what + " (bad magic)");
  }
  if (first != std::string(magic) + " " + std::to_string(version)) {
    fail_usage(path + ": unsupported " + what + " version '" + first.substr(std::strlen(magic)) +
               "' (this ml-train reads version " + std::to_string(version) + ")");
  }
  const auto nl2 = payload->find('\n', nl1 + 1);
  if (nl2 == std::string::npos) fail_usage(path + ": corrupt " + what + " (truncated header)");
  json header;
  std::uint64_t bytes = 0;
  std::string sha;
  try {
    header = json::parse(payload->begin() + static_cast<long>(nl1 + 1),
                         payload->begin() + static_cast<long>(nl2));
    // Typed before converted: a float like 4e70 must not reach get<uint64_t>
    // (undefined behaviour; found by fuzzing under UBSan).
    const json& b = header.at("payload_bytes");
    if (!b.is_number_unsigned()) throw json::type_error::create(302, "payload_bytes", nullptr);
    bytes = b.get<std::uint64_t>();
    sha = header.at("payload_sha256").get<std::string>();
  } catch (const json::exception&) {
    fail_usage(path + ": corrupt " + what + " (unreadable header)");
  }
  payload->erase(0, nl2 + 1);
  if (payload->size() != bytes) {
    fail_usage(path + ": corrupt " + what + " (" + std::to_string(payload->size()) +
               " payload bytes, the header says " + std::to_string(bytes) + ")");
  }
  if (sha256_hex(*payload) != sha) {
    fail_usage(path + ": corrupt " + what + " (payload sha256 does not match its header)");
  }
  return header;
}

struct Header {
  std::string run_id;
  std::int64_t step = 0;
};

// A checkpoint's verified header and payload: of the file `path`, or of the
// bytes already in *payload (`from_bytes`), which `path` then names.
Header read_verified(const std::string& path, const std::string& run_id, std::string* payload,
                     bool from_bytes = false) {
  const json j = from_bytes
                     ? parse_envelope(path, kMagic, kCheckpointVersion, "checkpoint", payload)
                     : open_envelope(path, kMagic, kCheckpointVersion, "checkpoint", payload);
  Header h;
  try {
    h.run_id = j.at("run_id").get<std::string>();
    const json& step = j.at("step");
    if (!step.is_number_integer()) throw json::type_error::create(302, "step", nullptr);
    h.step = step.get<std::int64_t>();
  } catch (const json::exception&) {
    fail_usage(path + ": corrupt checkpoint (unreadable header)");
  }
  if (h.run_id != run_id) {
    fail_usage(path + ": checkpoint belongs to run " + h.run_id + ", not " + run_id);
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
  ar.write("records", c10::IValue(json_line({{"metrics_sha256", st.metrics_sha256},
                                             {"trace_sha256", st.trace_sha256}})));
  return envelope(kMagic, kCheckpointVersion, {{"run_id", run_id}, {"step", st.step}},
                  archive_bytes(ar));
}

std::int64_t check_checkpoint(const std::string& path, const std::string& run_id) {
  std::string payload;
  return read_verified(path, run_id, &payload).step;
}

void load_checkpoint(const std::string& path, const std::string& run_id, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, CheckpointState* st,
                     const NamedGenerators& generators) {
  load_checkpoint_bytes(std::string(), path, run_id, model, optimizer, st, generators);
}

void load_checkpoint_bytes(std::string bytes, const std::string& path, const std::string& run_id,
                           torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                           CheckpointState* st, const NamedGenerators& generators) {
  std::string payload = std::move(bytes);
  const Header h = read_verified(path, run_id, &payload, !payload.empty());
  const auto shapes = tensor_shapes(model);
  try {
    torch::serialize::InputArchive ar, m, o;
    ar.load_from(payload.data(), payload.size(), device_of(model));
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
    pos = pos.cpu();
    elapsed = elapsed.cpu();
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng.cpu());
    }
    for (const auto& g : generators) {
      torch::Tensor s;
      if (!ar.try_read("generator." + g.first, s)) {
        fail_usage(path + ": checkpoint has no state for generator '" + g.first + "'");
      }
      at::Generator gen = g.second;
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(s.cpu());
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
    c10::IValue records;
    if (ar.try_read("records", records) && records.isString()) {
      const json r = parse_json(records.toStringRef(), path + " (records)");
      const json m = json_at(r, "metrics_sha256"), t = json_at(r, "trace_sha256");
      st->metrics_sha256 = m.is_string() ? m.get<std::string>() : "";
      st->trace_sha256 = t.is_string() ? t.get<std::string>() : "";
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail_usage(path + ": checkpoint does not fit this run (" + short_what(e) + ")");
  }
}

void save_weights(const std::string& path, torch::nn::Module& model) {
  torch::serialize::OutputArchive ar;
  model.save(ar);
  write_file_atomic(path, envelope(kWeightsMagic, kWeightsVersion,
                                   {{"state_sha256", state_sha256(model)}}, archive_bytes(ar)));
}

namespace {

// The verified archive of a weights file, and the state hash it records.
std::string open_weights(const std::string& path, torch::serialize::InputArchive* ar,
                         c10::optional<torch::Device> device = c10::nullopt) {
  std::string payload;
  const json header = open_envelope(path, kWeightsMagic, kWeightsVersion, "model file", &payload);
  try {
    ar->load_from(payload.data(), payload.size(), device);
  } catch (const std::exception& e) {
    fail_usage(path + ": corrupt or unreadable model file (" + short_what(e) + ")");
  }
  const json sha = header.value("state_sha256", json(nullptr));
  return sha.is_string() ? sha.get<std::string>() : "";
}

}  // namespace

std::string verify_weights_file(const std::string& path) {
  std::string payload;
  const json header = open_envelope(path, kWeightsMagic, kWeightsVersion, "model file", &payload);
  const json sha = json_at(header, "state_sha256");
  return sha.is_string() ? sha.get<std::string>() : "";
}

void check_weights_file(const std::string& path) {
  torch::serialize::InputArchive ar;
  open_weights(path, &ar);
}

void load_weights(const std::string& path, torch::nn::Module& model) {
  torch::serialize::InputArchive ar;
  const std::string recorded = open_weights(path, &ar, device_of(model));
  const auto shapes = tensor_shapes(model);
  try {
    model.load(ar);
  } catch (const std::exception& e) {
    fail_usage(path + ": weights do not fit this model (" + short_what(e) + ")");
  }
  check_same_shapes(path, "weights do not fit this model", shapes, model);
  if (!recorded.empty() && state_sha256(model) != recorded) {
    fail_usage(path + ": the weights do not hash to the state_sha256 the file records");
  }
}

}  // namespace mltrain
