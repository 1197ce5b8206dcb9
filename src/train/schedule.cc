#include <algorithm>
#include <cmath>

#include "mltrain/train.h"

namespace mltrain {

double learning_rate_at(const TrainingConfig& t, std::int64_t step, std::int64_t total_steps,
                        std::int64_t steps_per_epoch) {
  const double base = t.lr;
  if (step < t.warmup_steps) {
    return base * static_cast<double>(step + 1) / static_cast<double>(t.warmup_steps);
  }
  const double span = static_cast<double>(std::max<std::int64_t>(1, total_steps - t.warmup_steps));
  const double progress = static_cast<double>(step - t.warmup_steps) / span;  // [0, 1)
  if (t.scheduler == "linear") return base * std::max(0.0, 1.0 - progress);
  if (t.scheduler == "cosine") return base * 0.5 * (1.0 + std::cos(M_PI * progress));
  if (t.scheduler == "step") {
    const std::int64_t epoch = step / std::max<std::int64_t>(1, steps_per_epoch);
    return base * std::pow(t.gamma, static_cast<double>(epoch / t.step_size));
  }
  return base;  // constant
}

}  // namespace mltrain
