// Internal: training progress on stderr: a redrawn bar on a terminal, plain
// periodic lines otherwise (logs, CI).
#ifndef MLTRAIN_SRC_TRAIN_PROGRESS_H_
#define MLTRAIN_SRC_TRAIN_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <iosfwd>

namespace mltrain {

class Progress {
 public:
  // log == nullptr or !enabled: silent. A bar only when log is std::cerr on a TTY.
  Progress(std::ostream* log, bool enabled, std::int64_t log_every, std::int64_t total_steps,
           std::int64_t epochs, std::int64_t batches, std::int64_t first_step);
  // After step `step` (1-based) of 0-based epoch and batch.
  void step(std::int64_t step, std::int64_t epoch, std::int64_t batch, double loss,
            std::int64_t samples);
  // Clears the bar before the epoch's result line.
  void end_epoch();

 private:
  std::ostream* log_;
  bool tty_;
  std::int64_t log_every_, total_, epochs_, batches_, first_step_;
  std::chrono::steady_clock::time_point start_;
  std::int64_t samples_ = 0;
  double last_draw_ = -1;
};

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_PROGRESS_H_
