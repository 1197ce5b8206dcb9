// Internal: checkpoints (model + optimizer + generators + position + the
// loop's own state) and final weights (model.pt).
//
// A checkpoint file (and a weights file, model.pt, the same way with magic
// "ml-train-weights 2" and the state_sha256 of the weights in its header) is
// a header followed by a LibTorch archive (the payload):
//   line 1  "ml-train-checkpoint 2"                          magic and version
//   line 2  {"payload_bytes":N,"payload_sha256":H,"run_id":R,"step":S}
//   rest    the payload: N bytes whose sha256 is H
// The header is checked, and the payload's checksum verified, before
// anything is restored, so a torn, truncated or bit-flipped file is an error
// (exit 2) naming the file, never a silently different run; so is a
// checkpoint of another run, or one whose tensors do not have the shapes of
// the model and optimizer it is loaded into.
#ifndef MLTRAIN_SRC_RUN_CHECKPOINT_H_
#define MLTRAIN_SRC_RUN_CHECKPOINT_H_

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "mltrain/run.h"

namespace mltrain {

constexpr std::int64_t kCheckpointVersion = 2;

// Where a run stands, and what its loop keeps between steps.
struct CheckpointState {
  std::int64_t epoch = 0;                          // 0-based epoch the next step belongs to
  std::int64_t batch = 0;                          // steps already taken in that epoch
  std::int64_t step = 0;                           // steps taken in all
  std::uint64_t metrics_bytes = 0;                 // metrics.jsonl length at this point
  std::uint64_t trace_bytes = 0;                   // trace.jsonl length at this point
  std::string metrics_sha256, trace_sha256;        // and their content ("" = not checked)
  double elapsed_seconds = 0;                      // training time of all attempts so far
  nlohmann::json user = nlohmann::json::object();  // Run::state()
};

using NamedGenerators = std::vector<std::pair<std::string, at::Generator>>;

// The bytes of a checkpoint file (header + payload). LibTorch's default CPU
// generator is always saved, plus `generators`.
std::string encode_checkpoint(const std::string& run_id, torch::nn::Module& model,
                              torch::optim::Optimizer& optimizer, const CheckpointState& state,
                              const NamedGenerators& generators);

// Checks header and checksum without restoring anything; returns the step it
// was taken at. Throws Error naming `path`.
std::int64_t check_checkpoint(const std::string& path, const std::string& run_id);

// Restores model, optimizer, LibTorch's CPU generator, `generators` and
// *state from the file. Throws Error naming `path` when it is not an
// ml-train checkpoint, has another version, belongs to another run, fails its
// checksum, or does not fit the model, optimizer or generators.
void load_checkpoint(const std::string& path, const std::string& run_id, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, CheckpointState* state,
                     const NamedGenerators& generators);

// The same from the bytes of a checkpoint (what encode_checkpoint returned;
// "" = read the file `path`), e.g. rank 0's starting state sent to the other
// ranks; `path` names it in errors.
void load_checkpoint_bytes(std::string bytes, const std::string& path, const std::string& run_id,
                           torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                           CheckpointState* state, const NamedGenerators& generators);

// Saves just the weights (model.pt; load_weights and verify_weights_file are
// public, in run.h).
void save_weights(const std::string& path, torch::nn::Module& model);
// Checks that `path` is a readable ml-train weights file (without a model).
void check_weights_file(const std::string& path);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_RUN_CHECKPOINT_H_
