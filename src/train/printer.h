// Internal: what `ml-train train` prints on stdout (the run, each epoch, the
// result). Rank 0 prints; a Printer without a stream prints nothing.
#ifndef MLTRAIN_SRC_TRAIN_PRINTER_H_
#define MLTRAIN_SRC_TRAIN_PRINTER_H_

#include <iosfwd>
#include <nlohmann/json.hpp>

#include "mltrain/config.h"
#include "mltrain/data.h"
#include "mltrain/run.h"
#include "mltrain/train.h"

namespace mltrain {

class Printer {
 public:
  explicit Printer(std::ostream* out) : out_(out) {}
  // "run ... is already completed ... (state_hash ...)".
  void already_completed(const RunResult& r);
  // The run, its data and where it starts.
  void started(const Run& run, const Config& cfg, const PreparedData& data,
               const RunPosition& start);
  // One epoch's line from the metrics it recorded.
  void epoch(std::int64_t epoch, std::int64_t epochs, const nlohmann::json& metrics);
  // The test result, the state hash and, for a rerun, whether it matches.
  void finished(const RunResult& r, const nlohmann::json& test);

 private:
  std::ostream* out_;
};

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_PRINTER_H_
