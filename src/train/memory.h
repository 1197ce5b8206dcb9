// Internal: how much memory a config needs at its peak, roughly, so that a
// config no machine here can hold is refused before anything is written
// rather than dying in an allocation.
#ifndef MLTRAIN_SRC_TRAIN_MEMORY_H_
#define MLTRAIN_SRC_TRAIN_MEMORY_H_

#include <string>

#include "mltrain/config.h"

namespace mltrain {

struct MemoryEstimate {
  double bytes = 0;      // peak, upper bound on sequence lengths (tokenizer.max_len)
  std::string dominant;  // what most of it is, in words with the numbers
  std::string keys;      // the config keys that make it smaller
};

// Parameters with their gradients and Adam moments, checkpoint buffers, and
// the activations of a training step (batch_size) and of an evaluation batch
// (128), whichever is larger: attention scores (batch x heads x max_len^2)
// for the transformer, feature maps for the cnn.
MemoryEstimate estimate_memory(const Config& cfg);

// Throws Error (exit 2) when the estimate exceeds this machine's physical
// memory, naming the estimate, what dominates it and the keys to change.
void check_memory(const Config& cfg);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_MEMORY_H_
