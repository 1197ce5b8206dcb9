#include "train/memory.h"

#include <unistd.h>

#include <algorithm>

#include "mltrain/error.h"
#include "mltrain/format.h"

namespace mltrain {
namespace {

constexpr double kFloat = 4;        // bytes
constexpr double kEvalBatch = 128;  // train/step.cc evaluates in batches of 128
constexpr double kMaxParameters = 1.5e9;

std::string gb(double bytes) { return fixed_decimals(bytes / 1e9, 1) + " GB"; }

std::int64_t longest(const EncodedSplit& s) {
  std::int64_t best = 0;
  const std::int64_t* o = s.offsets();
  for (std::int64_t i = 0; i < s.size(); ++i) best = std::max(best, o[i + 1] - o[i]);
  return best;
}

}  // namespace

DataShape data_shape(const PreparedData& data) {
  DataShape d;
  d.train_rows = data.train.size();
  d.eval_rows = std::max(data.val.size(), data.test.size());
  d.longest = std::max({longest(data.train), longest(data.val), longest(data.test)});
  d.vocab = static_cast<std::int64_t>(data.vocab.size());
  d.train_tokens = data.train.total_tokens();
  return d;
}

MemoryEstimate estimate_memory(const Config& cfg, const DataShape& shape) {
  const auto& m = cfg.model;
  const double E = static_cast<double>(m.embed_dim), H = static_cast<double>(m.hidden_dim);
  const double L = static_cast<double>(m.num_layers), heads = static_cast<double>(m.num_heads);
  // Sequences are cut at max_len tokens, and no example is longer than the longest.
  const double T = static_cast<double>(std::max<std::int64_t>(1, shape.longest));
  const double vocab = static_cast<double>(shape.vocab);
  // One forward + backward holds one gradient shard of a batch at a time,
  // and a batch never holds more rows than the training split.
  const std::int64_t batch_rows = std::min(cfg.training.batch_size, shape.train_rows);
  const double B =
      static_cast<double>((batch_rows + cfg.training.grad_shards - 1) / cfg.training.grad_shards);
  const double eval_rows = std::min(kEvalBatch, static_cast<double>(shape.eval_rows));

  // Parameters: weights, gradients, two Adam moments; a checkpoint holds the
  // weights and moments once more, serialised twice over while it is written.
  double params = vocab * E + H * E;
  // (The transformer's position table has max_len rows whatever the data.)
  if (m.arch == "transformer") {
    params += static_cast<double>(cfg.tokenizer.max_len) * E + L * (4 * E * E + 2 * E * H);
  }
  if (m.arch == "cnn") params += L * 3 * E * H;
  const double state = params * kFloat * (4 + 3 * 2);

  // Activations of one pass over b sequences, forward only or with backward.
  auto activations = [&](double b, bool backward) {
    double a = 0;
    if (m.arch == "bow") {
      a = b * T * 8 * 3 + b * (E + H) * kFloat;  // ids, offsets and bag gradient rows
    } else if (m.arch == "cnn") {
      a = b * T * (E + 3 * L * H) * kFloat;
    } else {
      a = L * (b * heads * T * T * 3 + b * T * (8 * E + 2 * H)) * kFloat;
    }
    return backward ? 2 * a : a;
  };
  const double train = activations(B, true), eval = activations(eval_rows, false);

  MemoryEstimate e;
  e.parameters = params;
  e.bytes = state + std::max(train, eval);
  const bool eval_peak = eval > train;
  const std::string rows =
      eval_peak ? fixed_decimals(eval_rows, 0) + " (an evaluation batch)" : fixed_decimals(B, 0);
  const std::string longest = std::to_string(shape.longest);
  if (m.arch == "transformer" && std::max(train, eval) > state) {
    e.dominant = "attention scores of " + rows + " sequences x " + std::to_string(m.num_heads) +
                 " heads x " + longest + "^2 positions";
    e.keys = eval_peak ? "tokenizer.max_len" : "tokenizer.max_len or training.batch_size";
  } else if (std::max(train, eval) > state) {
    e.dominant = "activations of " + rows + " sequences of " + longest + " tokens";
    e.keys = eval_peak ? "tokenizer.max_len" : "tokenizer.max_len or training.batch_size";
  } else {
    e.dominant = "about " + fixed_decimals(params / 1e6, 0) +
                 " million parameters with their gradients and optimizer state";
    e.keys = "model.embed_dim, model.hidden_dim or tokenizer.max_vocab";
  }
  return e;
}

void check_memory(const Config& cfg, const DataShape& shape) {
  const MemoryEstimate e = estimate_memory(cfg, shape);
  if (e.parameters > kMaxParameters) {
    fail_usage(
        "keys 'model.embed_dim'/'model.hidden_dim'/'tokenizer.max_vocab': the model would "
        "have about " +
        fixed_decimals(e.parameters / 1e6, 0) + " million parameters (limit " +
        fixed_decimals(kMaxParameters / 1e6, 0) + " million; the vocabulary has " +
        std::to_string(shape.vocab) + " entries)");
  }
  const double physical = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) *
                          static_cast<double>(::sysconf(_SC_PAGE_SIZE));
  if (physical > 0 && e.bytes > physical) {
    fail_usage("the config needs about " + gb(e.bytes) + " of memory at its peak (" + e.dominant +
               ") and this machine has " + gb(physical) + "; lower " + e.keys);
  }
}

}  // namespace mltrain
