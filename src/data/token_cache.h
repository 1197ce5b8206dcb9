// Internal: the token cache (see prepare_data in mltrain/data.h). One entry
// is one file:
//   header  "MLTTOKC1", u32 version, u32 0, u64 payload bytes, 64 hex of the
//           payload's sha256                                      (88 bytes)
//   payload u64 n + meta JSON (fingerprint, labels), u64 n + vocab.txt,
//           u64 n + tokenizer model, then per split (train, val, test):
//           u64 examples, u64 tokens, offsets i64[examples + 1],
//           labels i64[examples], ids i32[tokens], zero-padded to 8 bytes
// Native byte order (the header's version says little-endian x86-64/arm64).
#ifndef MLTRAIN_SRC_DATA_TOKEN_CACHE_H_
#define MLTRAIN_SRC_DATA_TOKEN_CACHE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mltrain/data.h"

namespace mltrain {

// One split's arrays for the writer; its ids may come in pieces.
struct TokenCacheSplit {
  std::int64_t n = 0;
  const std::int64_t* offsets = nullptr;  // n + 1
  const std::int64_t* labels = nullptr;   // n
  std::vector<std::pair<const std::int32_t*, std::size_t>> ids;
};

// What an entry holds besides the splits.
struct TokenCacheMeta {
  const nlohmann::json* fingerprint;
  const std::vector<std::string>* labels;
  const Vocab* vocab;
  const std::string* tokenizer_model;
};

// Writes an entry to `path` without building it in memory: appended to a
// temporary file, the header (with the payload's sha256) written last,
// then renamed into place. Not fsync'ed: an entry a crash damaged fails its
// checksum and is rebuilt, so durability would only cost time.
void write_token_cache(const std::string& path, const TokenCacheMeta& meta,
                       const TokenCacheSplit (&splits)[3]);

// The entry of `data` as bytes.
std::string token_cache_bytes(const PreparedData& data);

// A whole entry around `payload`: the header with its size and sha256.
std::string token_cache_entry(const std::string& payload);

// Maps and checks an entry. Returns false and says why when it is damaged,
// truncated or inconsistent (never trusts a byte of it before the checksum
// and every range check passed). `just_written`: the entry this process has
// just written from data it checked; the sha256 and the per-id range checks
// are skipped (the structure is still checked).
bool load_token_cache(const std::string& path, PreparedData* out, std::string* why,
                      bool just_written = false);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_DATA_TOKEN_CACHE_H_
