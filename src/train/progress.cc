#include "train/progress.h"

#include <unistd.h>

#include <iostream>
#include <sstream>
#include <string>

#include "mltrain/format.h"

namespace mltrain {

Progress::Progress(std::ostream* log, bool enabled, std::int64_t log_every,
                   std::int64_t total_steps, std::int64_t epochs, std::int64_t batches,
                   std::int64_t first_step)
    : log_(enabled ? log : nullptr),
      tty_(log_ == &std::cerr && ::isatty(STDERR_FILENO)),
      log_every_(log_every),
      total_(total_steps),
      epochs_(epochs),
      batches_(batches),
      first_step_(first_step),
      start_(std::chrono::steady_clock::now()) {}

void Progress::step(std::int64_t step, std::int64_t epoch, std::int64_t batch, double loss,
                    std::int64_t samples) {
  if (log_ == nullptr) return;
  samples_ += samples;
  const bool periodic = step % log_every_ == 0;
  if (!tty_ && !periodic) return;
  const double el =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (tty_ && step != total_ && el - last_draw_ < 0.1) return;
  last_draw_ = el;
  const double rate = el > 0 ? static_cast<double>(samples_) / el : 0;
  const double done = static_cast<double>(step - first_step_);
  const double eta = done > 0 ? el / done * static_cast<double>(total_ - step) : 0;
  std::ostringstream line;
  line << "epoch " << epoch + 1 << "/" << epochs_ << " batch " << batch + 1 << "/" << batches_
       << " step " << step << "/" << total_ << " loss " << fixed_decimals(loss, 4) << " "
       << static_cast<std::int64_t>(rate) << " samples/s ETA " << fixed_decimals(eta, 0) << "s";
  if (tty_) {
    const int width = 20;
    const int filled =
        static_cast<int>(width * static_cast<double>(step) / static_cast<double>(total_));
    *log_ << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] "
          << line.str() << "\033[K" << std::flush;
  } else {
    *log_ << line.str() << "\n" << std::flush;
  }
}

void Progress::end_epoch() {
  if (tty_) *log_ << "\r\033[K" << std::flush;
}

}  // namespace mltrain
