#include "train/memory.h"

#include <unistd.h>

#include <algorithm>

#include "core/format.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

constexpr double kFloat = 4;        // bytes
constexpr double kEvalBatch = 128;  // train/step.cc evaluates in batches of 128

std::string gb(double bytes) { return fixed_decimals(bytes / 1e9, 1) + " GB"; }

}  // namespace

MemoryEstimate estimate_memory(const Config& cfg) {
  const auto& m = cfg.model;
  const double E = static_cast<double>(m.embed_dim), H = static_cast<double>(m.hidden_dim);
  const double L = static_cast<double>(m.num_layers), heads = static_cast<double>(m.num_heads);
  const double T = static_cast<double>(cfg.tokenizer.max_len);
  const double B = static_cast<double>(cfg.training.batch_size);
  const double vocab = std::min(static_cast<double>(cfg.tokenizer.max_vocab), 2e6);

  // Parameters: weights, gradients, two Adam moments; a checkpoint holds the
  // weights and moments once more, serialised twice over while it is written.
  double params = vocab * E + H * E;
  if (m.arch == "transformer") params += T * E + L * (4 * E * E + 2 * E * H);
  if (m.arch == "cnn") params += L * 3 * E * H;
  const double state = params * kFloat * (4 + 3 * 2);

  // Activations of one batch of b sequences, forward only or with backward.
  auto activations = [&](double b, bool backward) {
    double a = 0;
    if (m.arch == "bow") {
      a = b * T * static_cast<double>(cfg.tokenizer.ngrams) * 8 * 3 + b * (E + H) * kFloat;
    } else if (m.arch == "cnn") {
      a = b * T * (E + 3 * L * H) * kFloat;
    } else {
      a = L * (b * heads * T * T * 3 + b * T * (8 * E + 2 * H)) * kFloat;
    }
    return backward ? 2 * a : a;
  };
  const double train = activations(B, true), eval = activations(kEvalBatch, false);

  MemoryEstimate e;
  e.bytes = state + std::max(train, eval);
  const bool eval_peak = eval > train;
  const std::string batch =
      eval_peak ? "128 (the evaluation batch)" : std::to_string(cfg.training.batch_size);
  if (m.arch == "transformer" && std::max(train, eval) > state) {
    e.dominant = "attention scores of " + batch + " sequences x " + std::to_string(m.num_heads) +
                 " heads x " + std::to_string(cfg.tokenizer.max_len) + "^2 positions";
    e.keys = eval_peak ? "tokenizer.max_len" : "tokenizer.max_len or training.batch_size";
  } else if (std::max(train, eval) > state) {
    e.dominant = "activations of " + batch + " sequences of " +
                 std::to_string(cfg.tokenizer.max_len) + " tokens";
    e.keys = eval_peak ? "tokenizer.max_len" : "tokenizer.max_len or training.batch_size";
  } else {
    e.dominant = "about " + fixed_decimals(params / 1e6, 0) +
                 " million parameters with their gradients and optimizer state";
    e.keys = "model.embed_dim, model.hidden_dim or tokenizer.max_vocab";
  }
  return e;
}

void check_memory(const Config& cfg) {
  const double physical = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) *
                          static_cast<double>(::sysconf(_SC_PAGE_SIZE));
  const MemoryEstimate e = estimate_memory(cfg);
  if (physical > 0 && e.bytes > physical) {
    fail_usage("the config needs about " + gb(e.bytes) + " of memory at its peak (" + e.dominant +
               ") and this machine has " + gb(physical) + "; lower " + e.keys);
  }
}

}  // namespace mltrain
