// The built-in trainer: one call trains a Config into a complete run
// directory. It is written on the Run API (run.h) like any user loop:
//
//   <output_dir>/<run_id>/ config.json run.json env.json data.json vocab.txt
//                          metrics.jsonl trace.jsonl summary.json model.pt
//                          checkpoints/last.pt
//
// A completed run is not trained again (train() reports it); with
// TrainOptions::rerun it trains again into reruns/<n>/ and says whether the
// state hash matches. A run left `running`, `failed` or `interrupted`
// (killed, crashed) is resumed from its last checkpoint and ends
// bit-identical to an uninterrupted run when deterministic (G4).
#ifndef MLTRAIN_TRAIN_H_
#define MLTRAIN_TRAIN_H_

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mltrain/config.h"

namespace mltrain {

struct TrainOptions {
  std::vector<std::string> command_line;  // recorded in run.json
  bool rerun = false;                     // train a completed run again
  bool wait = false;            // another process trains this run: wait for it (then report it)
  std::string run_dir;          // "" = <output_dir>/<run_id>
  std::ostream* out = nullptr;  // results (stdout); nullptr = silent
  std::ostream* log = nullptr;  // progress (stderr); nullptr = silent
};

struct RunResult {
  std::string run_id;
  std::string run_dir;
  std::string state_hash;    // 16 hex
  std::string state_sha256;  // 64 hex
  bool already_completed = false;
  std::int64_t resumed_from_step = -1;  // -1 = started from scratch
  std::int64_t steps = 0;
  nlohmann::json summary;  // the content of summary.json
  // rerun only: the state hash of the original run and whether it matched.
  std::string original_state_hash;
  bool rerun_matches = false;
};

// Trains cfg. Throws Error: kUsage for bad config/data/paths/checkpoints,
// kFailure when training diverges (NaN/Inf loss, with the step).
RunResult train(const Config& cfg, const TrainOptions& options);

// The learning rate at 0-based step `step` (warm-up, then the schedule).
double learning_rate_at(const TrainingConfig& t, std::int64_t step, std::int64_t total_steps,
                        std::int64_t steps_per_epoch);

}  // namespace mltrain

#endif  // MLTRAIN_TRAIN_H_
