// Internal: prepare_data's streaming pass on its own, without the token
// cache, with the block size as a parameter (prepare_data uses
// kPrepareBlockBytes): for tests that cut a small corpus into many blocks.
#ifndef MLTRAIN_SRC_DATA_PREPARE_H_
#define MLTRAIN_SRC_DATA_PREPARE_H_

#include <cstddef>

#include "mltrain/data.h"

namespace mltrain {

constexpr std::size_t kPrepareBlockBytes = std::size_t{8} << 20;

PreparedData prepare_uncached(const Config& cfg, std::size_t block_bytes);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_DATA_PREPARE_H_
