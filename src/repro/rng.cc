#include "mltrain/rng.h"

#include <numeric>

namespace mltrain {

namespace {
constexpr std::uint64_t kGamma = kStreamGamma;
}

std::uint64_t purpose_hash(std::string_view purpose) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : purpose) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t stream_key(std::uint64_t seed, std::string_view purpose, std::uint64_t epoch,
                         std::uint64_t index) {
  std::uint64_t k = mix64(seed + kGamma);
  k = mix64(k ^ purpose_hash(purpose));
  k = mix64((k + kGamma) ^ epoch);
  k = mix64((k + kGamma) ^ index);
  return k;
}

std::uint64_t Stream::next_u64() { return stream_at(key_, counter_++); }

double Stream::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

std::uint64_t Stream::below(std::uint64_t n) {
  // Lemire, "Fast Random Integer Generation in an Interval" (2019).
  unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * n;
  std::uint64_t low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next_u64()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

std::vector<std::int64_t> permutation(std::int64_t n, Stream* stream) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i) {
    std::int64_t j = static_cast<std::int64_t>(stream->below(static_cast<std::uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

}  // namespace mltrain
