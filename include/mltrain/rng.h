// Counter-based random streams.
//
// Every consumer of randomness in ml-train draws from its own Stream, keyed by
// (seed, purpose, epoch, index). A stream's i-th value depends only on its key
// and i, never on shared mutable state, so the same sample gets the same
// random choices whichever worker thread builds it (G3), and a resumed run
// re-creates exactly the streams the interrupted one would have used (G4).
//
// The generator is SplitMix64 (Steele, Lea, Flood 2014): output i of a stream
// with key k is mix64(k + (i + 1) * 0x9e3779b97f4a7c15). Keys are derived by
// chaining mix64 over the seed, an FNV-1a hash of the purpose, the epoch and
// the index. These formulas are part of the reproducibility contract: golden
// values in rng_test.cc pin them.
#ifndef MLTRAIN_RNG_H_
#define MLTRAIN_RNG_H_

#include <cstdint>
#include <string_view>
#include <vector>

namespace mltrain {

constexpr std::uint64_t kStreamGamma = 0x9e3779b97f4a7c15ULL;

// The SplitMix64 finaliser: a bijective 64-bit mix.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Value i (0-based) of the stream with key `key`, without the stream: what
// Stream(key) returns on its (i+1)-th next_u64(). Lets a parallel loop fill
// element i from value i, whatever thread runs it.
inline std::uint64_t stream_at(std::uint64_t key, std::uint64_t i) {
  return mix64(key + (i + 1) * kStreamGamma);
}

// FNV-1a 64-bit hash of a purpose string ("shuffle", "sample", ...).
std::uint64_t purpose_hash(std::string_view purpose);

// Key of stream (seed, purpose, epoch, index).
std::uint64_t stream_key(std::uint64_t seed, std::string_view purpose, std::uint64_t epoch = 0,
                         std::uint64_t index = 0);

class Stream {
 public:
  explicit Stream(std::uint64_t key) : key_(key) {}
  Stream(std::uint64_t seed, std::string_view purpose, std::uint64_t epoch = 0,
         std::uint64_t index = 0)
      : key_(stream_key(seed, purpose, epoch, index)) {}

  std::uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Uniform integer in [0, n), unbiased (Lemire's method). n > 0.
  std::uint64_t below(std::uint64_t n);

 private:
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

// Fisher-Yates permutation of [0, n) drawn from stream.
std::vector<std::int64_t> permutation(std::int64_t n, Stream* stream);

}  // namespace mltrain

#endif  // MLTRAIN_RNG_H_
