#include "mltrain/env.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "build_info.h"
#include "mltrain/canonical_json.h"
#include "mltrain/kernels.h"

namespace mltrain {
namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string run_command(const char* cmd) {
  std::string out;
  FILE* p = ::popen(cmd, "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  ::pclose(p);
  return trim(out);
}

nlohmann::json cpu_info() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model, flags;
  while (std::getline(in, line)) {
    if (model.empty() && line.rfind("model name", 0) == 0)
      model = trim(line.substr(line.find(':') + 1));
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = line.substr(line.find(':') + 1);
    if (!model.empty() && !flags.empty()) break;
  }
  static const char* kSimd[] = {"sse4_2",   "avx",      "avx2",     "fma",         "f16c",
                                "avx512f",  "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                                "amx_tile", "neon",     "asimd"};
  std::set<std::string> have;
  std::istringstream ss(flags);
  std::string f;
  while (ss >> f) have.insert(f);
  nlohmann::json simd = nlohmann::json::array();
  for (const char* s : kSimd) {
    if (have.count(s)) simd.push_back(s);
  }
  return {{"model", model.empty() ? "unknown" : model},
          {"simd", simd},
          {"logical_cores", static_cast<int>(std::thread::hardware_concurrency())}};
}

std::string os_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "unknown";
}

std::string stdlib_name() {
#if defined(_GLIBCXX_RELEASE)
  return "libstdc++ " + std::to_string(_GLIBCXX_RELEASE) + " (" + std::to_string(__GLIBCXX__) + ")";
#elif defined(_LIBCPP_VERSION)
  return "libc++ " + std::to_string(_LIBCPP_VERSION);
#else
  return "unknown";
#endif
}

nlohmann::json env_vars() {
  static const char* kVars[] = {
      "OMP_NUM_THREADS",      "MKL_NUM_THREADS",     "OPENBLAS_NUM_THREADS",
      "OPENBLAS_CORETYPE",    "OPENBLAS_L2_SIZE",    "CUBLAS_WORKSPACE_CONFIG",
      "CUDA_VISIBLE_DEVICES", "ATEN_CPU_CAPABILITY", "KMP_AFFINITY",
      "GOMP_CPU_AFFINITY",    "LD_PRELOAD",          "TORCH_CUDNN_V8_API_ENABLED"};
  nlohmann::json out = nlohmann::json::object();
  for (const char* v : kVars) {
    const char* val = std::getenv(v);
    out[v] = val ? json_text_or_bytes(val) : nlohmann::json(nullptr);  // bytes, losslessly
  }
  return out;
}

// The CUDA driver's view of the GPUs, through libcuda's C API found with
// dlopen (no CUDA header or library at build time, so a CPU-only LibTorch
// builds this too): the driver's CUDA version and, per device, its name,
// compute capability, multiprocessors and memory. Null without libcuda.
nlohmann::json cuda_driver_info() {
  void* lib = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) return nullptr;
  using Init = int (*)(unsigned);
  using IntOut = int (*)(int*);
  using DeviceGet = int (*)(int*, int);
  using Name = int (*)(char*, int, int);
  using Attribute = int (*)(int*, int, int);
  using TotalMem = int (*)(std::size_t*, int);
  const auto init = reinterpret_cast<Init>(::dlsym(lib, "cuInit"));
  const auto driver_version = reinterpret_cast<IntOut>(::dlsym(lib, "cuDriverGetVersion"));
  const auto count = reinterpret_cast<IntOut>(::dlsym(lib, "cuDeviceGetCount"));
  const auto device_get = reinterpret_cast<DeviceGet>(::dlsym(lib, "cuDeviceGet"));
  const auto name = reinterpret_cast<Name>(::dlsym(lib, "cuDeviceGetName"));
  const auto attribute = reinterpret_cast<Attribute>(::dlsym(lib, "cuDeviceGetAttribute"));
  const auto total_mem = reinterpret_cast<TotalMem>(::dlsym(lib, "cuDeviceTotalMem_v2"));
  nlohmann::json out = nullptr;
  int version = 0, n = 0;
  if (init && driver_version && count && device_get && name && attribute && total_mem &&
      init(0) == 0 && driver_version(&version) == 0 && count(&n) == 0) {
    // CUdevice_attribute values from cuda.h.
    constexpr int kMultiprocessors = 16, kMajor = 75, kMinor = 76;
    out = {{"cuda_version", version}, {"devices", nlohmann::json::array()}};
    for (int i = 0; i < n; ++i) {
      int dev = 0, major = 0, minor = 0, sms = 0;
      char buf[256] = {0};
      std::size_t bytes = 0;
      if (device_get(&dev, i) != 0 || name(buf, sizeof(buf) - 1, dev) != 0 ||
          attribute(&major, kMajor, dev) != 0 || attribute(&minor, kMinor, dev) != 0 ||
          attribute(&sms, kMultiprocessors, dev) != 0 || total_mem(&bytes, dev) != 0) {
        out["devices"].push_back(nullptr);
        continue;
      }
      out["devices"].push_back(
          {{"name", json_text_or_bytes(buf)},
           {"compute_capability", std::to_string(major) + "." + std::to_string(minor)},
           {"multiprocessors", sms},
           {"memory_bytes", static_cast<std::uint64_t>(bytes)}});
    }
  }
  ::dlclose(lib);
  return out;
}

// A function of a library already loaded into the process (LibTorch's CUDA
// runtime, its cuDNN), or null.
template <typename Fn>
Fn loaded_function(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, name));
}

// "cuda" in env.json: null unless this LibTorch has CUDA and sees a GPU.
// Through LibTorch only APIs its CPU builds have too (the CUDA hooks), and
// the libraries' own C entry points found at run time.
nlohmann::json cuda_info() {
  if (!torch::cuda::is_available()) return nullptr;
  const auto& hooks = at::detail::getCUDAHooks();
  nlohmann::json cuda = {{"device_count", static_cast<int>(torch::cuda::device_count())},
                         {"cudnn_version", hooks.versionCuDNN()}};
  std::string names =
      run_command("nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null");
  cuda["gpus"] = names.empty() ? nlohmann::json(nullptr) : nlohmann::json(names);
  // The CUDA runtime LibTorch was built with (CUDART_VERSION, e.g. 13000 for
  // 13.0) and the one loaded; the cuDNN loaded (cudnn_version is the one it
  // was built with); the driver and the devices as it sees them.
  cuda["cudart_build_version"] = hooks.versionCUDART();
  int runtime = 0;
  const auto runtime_version = loaded_function<int (*)(int*)>("cudaRuntimeGetVersion");
  cuda["cudart_version"] = runtime_version && runtime_version(&runtime) == 0
                               ? nlohmann::json(runtime)
                               : nlohmann::json(nullptr);
  const auto cudnn_version = loaded_function<std::size_t (*)()>("cudnnGetVersion");
  cuda["cudnn_loaded_version"] = cudnn_version
                                     ? nlohmann::json(static_cast<std::uint64_t>(cudnn_version()))
                                     : nlohmann::json(nullptr);
  cuda["driver"] = cuda_driver_info();
  return cuda;
}

}  // namespace

std::string version_string() {
  return std::string(MLTRAIN_VERSION) + " (" + MLTRAIN_GIT_REVISION + ")";
}

std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::set<std::string> libs;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    std::string base = path.substr(path.rfind('/') + 1);
    if (base.find("blas") == std::string::npos && base.find("lapack") == std::string::npos &&
        base.find("mkl") == std::string::npos) {
      continue;
    }
    char real[PATH_MAX];
    libs.insert(::realpath(path.c_str(), real) ? std::string(real) : path);
  }
  std::string out;
  for (const auto& l : libs) out += (out.empty() ? "" : ", ") + l;
  return out.empty() ? "none mapped" : out;
}

nlohmann::json environment_manifest() {
  nlohmann::json j;
  j["ml_train"] = {{"version", MLTRAIN_VERSION},
                   {"revision", MLTRAIN_GIT_REVISION},
                   {"build_type", MLTRAIN_BUILD_TYPE}};
  j["compiler"] = MLTRAIN_COMPILER;
  j["cxx_stdlib"] = stdlib_name();
  j["cxx_standard"] = static_cast<long>(__cplusplus);
  j["libtorch"] = {{"version", TORCH_VERSION},
                   {"build_config", at::show_config()},
                   {"parallel_info", at::get_parallel_info()}};

  nlohmann::json blas = {{"loaded", json_text_or_bytes(loaded_blas())}};
  // OpenBLAS describes itself (version, kernel chosen for this CPU).
  using ConfigFn = char* (*)();
  if (auto fn = reinterpret_cast<ConfigFn>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    blas["openblas_config"] = fn();
  }
  if (auto fn = reinterpret_cast<ConfigFn>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
    blas["openblas_core"] = fn();
  }
  j["blas"] = blas;
  // The kernels the libraries chose (or the portable pin), as used now.
  j["kernels"] = cpu_kernels();

  j["threads"] = {{"intra_op", at::get_num_threads()}, {"inter_op", at::get_num_interop_threads()}};
  j["cpu"] = cpu_info();

  j["cuda"] = cuda_info();

  struct utsname u;
  ::uname(&u);
  j["os"] = {{"name", json_text_or_bytes(os_name())},
             {"kernel", std::string(u.sysname) + " " + u.release},
             {"machine", u.machine},
             {"glibc", gnu_get_libc_version()}};
  j["env_vars"] = env_vars();
  return j;
}

}  // namespace mltrain
