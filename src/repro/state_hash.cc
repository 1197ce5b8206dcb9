#include "mltrain/state_hash.h"

#include <torch/torch.h>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/error.h"
#include "repro/state_dict.h"

namespace mltrain {
namespace {

void collect(const torch::nn::Module& m, const std::string& prefix, NamedTensors* out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) {
    out->emplace_back(prefix + p.key(), p.value());
  }
  for (const auto& b : m.named_buffers(/*recurse=*/false)) {
    out->emplace_back(prefix + b.key(), b.value());
  }
  for (const auto& c : m.named_children()) {
    collect(*c.value(), prefix + c.key() + ".", out);
  }
}

void update_with(Sha256* h, const torch::Tensor& t) {
  // A sparse gradient hashes as the dense tensor it stands for, so a sparse
  // and a dense run's dumps compare tensor by tensor.
  torch::Tensor d = t.detach();
  if (d.is_sparse()) d = d.to_dense();
  torch::Tensor c = d.to(torch::kCPU).contiguous();
  h->update(c.data_ptr(), c.nbytes());
}

}  // namespace

NamedTensors ordered_state_dict(const torch::nn::Module& module) {
  NamedTensors out;
  collect(module, "", &out);
  return out;
}

std::string tensor_sha256(const torch::Tensor& t) {
  Sha256 h;
  update_with(&h, t);
  return h.hex_digest();
}

std::string bytes_sha256(const std::string& bytes) { return sha256_hex(bytes); }

std::string file_sha256(const std::string& path) {
  if (!path_exists(path)) fail_usage(path + ": not found");
  if (is_directory(path)) fail_usage(path + ": is a directory, expected a file");
  return sha256_hex(read_file(path));
}

std::string state_sha256(const torch::nn::Module& module) {
  Sha256 h;
  for (const auto& kv : ordered_state_dict(module)) update_with(&h, kv.second);
  return h.hex_digest();
}

std::string state_hash(const torch::nn::Module& module) {
  return state_sha256(module).substr(0, 16);
}

std::vector<std::pair<std::string, std::string>> tensor_hashes(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : ordered_state_dict(module)) {
    out.emplace_back(kv.first, tensor_sha256(kv.second));
  }
  return out;
}

}  // namespace mltrain
