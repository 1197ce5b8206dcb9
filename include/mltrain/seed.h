// seed_everything: the one place that touches global random and determinism
// state (LibTorch's global context and generators).
#ifndef MLTRAIN_SEED_H_
#define MLTRAIN_SEED_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace mltrain {

// What seed_everything set; it is stored in run.json.
struct SeedRecord {
  std::uint64_t seed = 0;
  bool deterministic = false;
  bool cpu_generator_seeded = false;
  int cuda_devices_seeded = 0;
  bool deterministic_algorithms = false;
  bool cudnn_benchmark = false;
  bool cudnn_deterministic = false;
  std::string cublas_workspace_config;  // "" when not set
  // OpenBLAS's threads after seeding: 1 when deterministic (its sums depend
  // on its thread count); 0 when the BLAS is not OpenBLAS.
  int blas_threads = 0;
  std::string streams;  // how the framework's own streams derive

  nlohmann::json to_json() const;
};

// Seeds LibTorch's CPU generator and every CUDA device's (when CUDA is
// present) from `seed`. deterministic=true: setDeterministicAlgorithms(true),
// cuDNN benchmark off and cuDNN deterministic on, CUBLAS_WORKSPACE_CONFIG set
// to ":4096:8" (call this before anything initialises CUDA). deterministic=
// false: nondeterministic algorithms allowed and cuDNN benchmark on.
// deterministic=true also runs OpenBLAS on one thread: it splits some
// matrix products differently for another number of threads (the cnn's and
// the transformer's gradients differ between 1 and 2), so its thread count
// would make the bits depend on the machine's cores and on
// OMP_NUM_THREADS; false restores the count it had.
// The framework's own randomness (shuffling, token dropout, model dropout)
// does not use these generators: it uses Stream(seed, purpose, epoch, index)
// (rng.h). The CPU generator initialises weights.
// Not thread-safe: call it once, on the main thread, before training.
SeedRecord seed_everything(std::uint64_t seed, bool deterministic);

}  // namespace mltrain

#endif  // MLTRAIN_SEED_H_
