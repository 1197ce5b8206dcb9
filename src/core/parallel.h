// Internal: splitting work over threads so that the result cannot depend on
// the number of threads or on scheduling: [0, n) is cut into `threads`
// contiguous ranges, fn(begin, end, part) runs once per range, and each call
// must write only its own outputs. The first exception (by part) is rethrown
// after every thread has finished.
#ifndef MLTRAIN_SRC_CORE_PARALLEL_H_
#define MLTRAIN_SRC_CORE_PARALLEL_H_

#include <algorithm>
#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace mltrain {

// The number of parts parallel_ranges uses for n items on `threads` threads
// (fewer when there is little work).
inline int parallel_parts(std::size_t n, int threads, std::size_t min_per_part = 32) {
  if (threads < 1) threads = 1;
  const std::size_t most = n / min_per_part;
  return static_cast<int>(
      std::max<std::size_t>(1, std::min<std::size_t>(static_cast<std::size_t>(threads), most)));
}

inline void parallel_ranges(std::size_t n, int parts,
                            const std::function<void(std::size_t, std::size_t, int)>& fn) {
  if (parts <= 1) {
    fn(0, n, 0);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(parts));
  std::vector<std::thread> pool;
  for (int p = 0; p < parts; ++p) {
    const std::size_t begin = n * static_cast<std::size_t>(p) / static_cast<std::size_t>(parts);
    const std::size_t end = n * static_cast<std::size_t>(p + 1) / static_cast<std::size_t>(parts);
    auto run = [&fn, &errors, begin, end, p] {
      try {
        fn(begin, end, p);
      } catch (...) {
        errors[static_cast<std::size_t>(p)] = std::current_exception();
      }
    };
    if (p + 1 < parts) {
      pool.emplace_back(run);
    } else {
      run();
    }
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace mltrain

#endif  // MLTRAIN_SRC_CORE_PARALLEL_H_
