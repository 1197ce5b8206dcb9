#include "mltrain/seed.h"

#include <ATen/Context.h>
#include <dlfcn.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <cstdlib>

namespace mltrain {

nlohmann::json SeedRecord::to_json() const {
  return {{"seed", seed},
          {"deterministic", deterministic},
          {"cpu_generator_seeded", cpu_generator_seeded},
          {"cuda_devices_seeded", cuda_devices_seeded},
          {"deterministic_algorithms", deterministic_algorithms},
          {"cudnn_benchmark", cudnn_benchmark},
          {"cudnn_deterministic", cudnn_deterministic},
          {"cublas_workspace_config", cublas_workspace_config.empty()
                                          ? nlohmann::json(nullptr)
                                          : nlohmann::json(cublas_workspace_config)},
          {"blas_threads", blas_threads},
          {"streams", streams}};
}

namespace {

// OpenBLAS's own thread count (openblas_set_num_threads), found at run time
// so that any BLAS links; 0 when the BLAS is not OpenBLAS.
int pin_blas_threads(bool deterministic) {
  using GetFn = int (*)();
  using SetFn = void (*)(int);
  const auto get = reinterpret_cast<GetFn>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  const auto set = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (get == nullptr || set == nullptr) return 0;
  static const int native = get();  // as the environment set it, before any pin
  set(deterministic ? 1 : native);
  return get();
}

}  // namespace

SeedRecord seed_everything(std::uint64_t seed, bool deterministic) {
  SeedRecord r;
  r.seed = seed;
  r.deterministic = deterministic;
  if (deterministic) {
    // cuBLAS reads this when its handle is created; it must be set before
    // the first CUDA call, which is why seeding happens first of all.
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 1);
  }
  const char* ws = std::getenv("CUBLAS_WORKSPACE_CONFIG");
  r.cublas_workspace_config = ws ? ws : "";

  auto& ctx = at::globalContext();
  ctx.setDeterministicAlgorithms(deterministic, /*warn_only=*/false);
  ctx.setBenchmarkCuDNN(!deterministic);
  ctx.setDeterministicCuDNN(deterministic);
  r.deterministic_algorithms = ctx.deterministicAlgorithms();
  r.cudnn_benchmark = ctx.benchmarkCuDNN();
  r.cudnn_deterministic = ctx.deterministicCuDNN();
  r.blas_threads = pin_blas_threads(deterministic);

  torch::manual_seed(seed);  // CPU generator (and CUDA's, when present)
  r.cpu_generator_seeded = true;
  if (torch::cuda::is_available()) {
    torch::cuda::manual_seed_all(seed);
    r.cuda_devices_seeded = static_cast<int>(torch::cuda::device_count());
  }
  r.streams =
      "splitmix64(seed, purpose, epoch, index): shuffle=(seed,'shuffle',epoch), "
      "token_dropout=(seed,'sample',epoch,sample_index), dropout=(seed,'dropout',step,site)";
  return r;
}

}  // namespace mltrain
