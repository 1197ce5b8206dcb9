// Internal: how much memory a run needs at its peak, roughly, so that a run
// no machine here can hold is refused before anything is written rather
// than dying in an allocation.
#ifndef MLTRAIN_SRC_TRAIN_MEMORY_H_
#define MLTRAIN_SRC_TRAIN_MEMORY_H_

#include <cstdint>
#include <string>

#include "mltrain/config.h"
#include "mltrain/data.h"

namespace mltrain {

// What the data can actually put in memory: the bounds come from these, not
// from the config's limits (a batch_size above the training split holds the
// split; max_vocab above the vocabulary holds the vocabulary).
struct DataShape {
  std::int64_t train_rows = 0;
  std::int64_t eval_rows = 0;     // the larger of val and test
  std::int64_t longest = 0;       // tokens of the longest example of any split
  std::int64_t vocab = 0;         // rows of the embedding table
  std::int64_t train_tokens = 0;  // all token ids of the training split
};
DataShape data_shape(const PreparedData& data);

struct MemoryEstimate {
  double bytes = 0;  // peak
  double parameters = 0;
  std::string dominant;  // what most of it is, in words with the numbers
  std::string keys;      // the config keys that make it smaller
};

// Parameters with their gradients and Adam moments, checkpoint buffers, and
// the activations of one forward + backward of a training step (the rows one
// gradient shard holds: min(batch_size, training rows) / grad_shards, of the
// longest example) and of an evaluation batch (min(128, the larger split)),
// whichever is larger: attention scores (rows x heads x longest^2) for the
// transformer, feature maps for the cnn, token ids for bow.
MemoryEstimate estimate_memory(const Config& cfg, const DataShape& shape);

// Throws Error (exit 2) when the model has more than 1500 million parameters
// or the estimate exceeds this machine's physical memory, naming the
// estimate, what dominates it and the keys to change.
void check_memory(const Config& cfg, const DataShape& shape);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_MEMORY_H_
