// Internal: training checkpoints (model + optimizer + generator + position).
//
// File format: a LibTorch archive whose "magic" entry is "ml-train-checkpoint"
// and "version" is kCheckpointVersion; both are checked on load, as is the
// run id, so a checkpoint can never be resumed into the wrong run.
// Written atomically (temp file + fsync + rename).
#ifndef MLTRAIN_SRC_TRAIN_CHECKPOINT_H_
#define MLTRAIN_SRC_TRAIN_CHECKPOINT_H_

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>

namespace mltrain {

constexpr std::int64_t kCheckpointVersion = 1;

// Where training stands: the next batch to run is (epoch, batch).
struct TrainPosition {
  std::int64_t epoch = 0;  // 0-based
  std::int64_t batch = 0;  // next batch index within the epoch
  std::int64_t step = 0;   // optimizer steps taken so far
  std::uint64_t metrics_bytes = 0;  // metrics.jsonl length at this point
  std::uint64_t trace_bytes = 0;    // trace.jsonl length at this point
  double epoch_loss_sum = 0;        // running train loss of the epoch
  std::int64_t epoch_loss_count = 0;
  double elapsed_seconds = 0;  // training time of earlier attempts
};

void save_checkpoint(const std::string& path, const std::string& run_id, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const TrainPosition& pos);

// Restores model, optimizer, LibTorch's CPU generator and pos. Throws Error
// (naming the file) if it is not an ml-train checkpoint, has another
// version, belongs to another run, or is corrupt.
void load_checkpoint(const std::string& path, const std::string& run_id, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, TrainPosition* pos);

// Saves / loads just the weights (model.pt). load_weights throws Error naming
// the file when it is missing, corrupt or does not fit the model.
void save_weights(const std::string& path, torch::nn::Module& model);
void load_weights(const std::string& path, torch::nn::Module& model);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_CHECKPOINT_H_
