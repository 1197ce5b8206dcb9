// Sweeps: seeds x hyperparameters, each combination its own run, aggregated
// as mean +- std over seeds.
#ifndef MLTRAIN_SWEEP_H_
#define MLTRAIN_SWEEP_H_

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mltrain/config.h"

namespace mltrain {

struct SweepOptions {
  std::string self_exe;            // path of the ml-train executable
  std::vector<std::string> grid;   // "KEY=V1,V2,..." (not runtime.*)
  int jobs = 1;                    // runs trained at the same time
  std::ostream* out = nullptr;
};

struct SweepResult {
  std::string dir;        // <output_dir>/sweeps/<sweep_id>
  nlohmann::json runs;    // [{overrides, run_id, dir, status, val_acc, ...}]
  nlohmann::json groups;  // one per combination of non-seed keys: n, mean, std
  bool all_completed = false;
};

// Trains every combination of the grid over cfg (each an ordinary run in
// <output_dir>/<run_id>/, so completed runs are reused and interrupted ones
// resume), then groups the runs by every grid key except `seed` and reports
// n, mean and sample standard deviation of val/test accuracy and F1.
// Writes sweep.json into the sweep directory. Throws Error for a bad grid.
SweepResult sweep(const Config& cfg, const SweepOptions& options);

}  // namespace mltrain

#endif  // MLTRAIN_SWEEP_H_
