// Model state hashing: the fingerprint that says two models are bit-identical.
//
// state_sha256(m) is sha256 over every tensor of m's state dict in PyTorch
// state_dict order (per module: its parameters, then its buffers, then its
// children, recursively), each as contiguous CPU bytes in native (little-
// endian) order: the same bytes Python's
//   h.update(p.detach().cpu().numpy().tobytes()) for p in state_dict().values()
// feeds, so the two hashes agree for the same weights.
#ifndef MLTRAIN_STATE_HASH_H_
#define MLTRAIN_STATE_HASH_H_

#include <string>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}  // namespace at
namespace torch {
namespace nn {
class Module;
}  // namespace nn
}  // namespace torch

namespace mltrain {

// Full 64-hex-character digest.
std::string state_sha256(const torch::nn::Module& module);
// The first 16 hex characters (what run summaries show as state_hash).
std::string state_hash(const torch::nn::Module& module);

// (state_dict key, sha256 of that tensor's bytes), in state_dict order.
std::vector<std::pair<std::string, std::string>> tensor_hashes(const torch::nn::Module& module);

// Fingerprints of a loop's own data, for RunOptions::data (checked on resume
// and across ranks, shown by `ml-train diff`): sha256 hex of one tensor's
// contiguous CPU bytes (any device, any dtype; the bytes Python's
// t.detach().cpu().numpy().tobytes() gives), of a string of bytes, and of a
// file's content (Error, exit 2, naming the file when it cannot be read).
std::string tensor_sha256(const at::Tensor& tensor);
std::string bytes_sha256(const std::string& bytes);
std::string file_sha256(const std::string& path);

}  // namespace mltrain

#endif  // MLTRAIN_STATE_HASH_H_
