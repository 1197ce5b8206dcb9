#include "mltrain/kernels.h"

#include <ATen/Context.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "mltrain/error.h"

namespace mltrain {
namespace {

using nlohmann::json;

// The baseline every x86-64-v3 machine runs.
constexpr const char* kCore = "Haswell";
constexpr const char* kCapability = "avx2";
// MLTRAIN_KERNEL_PIN (docs/control.md) carries the pin's record (what it
// changed) across the re-execution, for env.json; the new process removes it
// at once, so no child inherits it. It steers nothing: whether to re-execute
// depends only on the kernels loaded and the variables this process set.

struct PinState {
  bool record_read = false;
  bool reexecuted = false;
  bool pinned = false;
  json set = json::object();  // VAR -> {"from", "to"}
};

PinState& pin_state() {
  static PinState s;
  return s;
}

void read_pin_record(PinState& s) {
  if (s.record_read) return;
  s.record_read = true;
  const char* r = std::getenv("MLTRAIN_KERNEL_PIN");
  if (r == nullptr) return;
  s.reexecuted = true;
  const json j = json::parse(r, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) s.set = j;
  ::unsetenv("MLTRAIN_KERNEL_PIN");
}

// OpenBLAS's core type as loaded; "" when the BLAS is not OpenBLAS.
std::string openblas_core() {
  using Fn = char* (*)();
  const auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = fn ? fn() : nullptr;
  return name ? name : "";
}

// LibTorch's CPU capability ("DEFAULT", "AVX2", "AVX512"), from its own
// build report (the function itself is not exported). Asking fixes it for
// the process, as the first vectorised op would.
std::string aten_capability() {
  const std::string config = at::show_config();
  const std::string tag = "CPU capability usage: ";
  const auto at = config.find(tag);
  if (at == std::string::npos) return "unknown";
  const auto begin = at + tag.size();
  std::string v = config.substr(begin, config.find('\n', begin) - begin);
  return v == "NO AVX" ? "DEFAULT" : v;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// oneDNN's widest ISA (dnnl_cpu_isa_t of oneDNN 2.x).
std::string onednn_isa() {
  using Fn = int (*)();
  const auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"));
  if (fn == nullptr) return "unknown ISA";
  switch (fn()) {
    case 0x1:
      return "sse41";
    case 0x3:
      return "avx";
    case 0x7:
      return "avx2";
    case 0x407:
      return "avx2_vnni";
    case 0xf:
      return "avx512_mic";
    case 0x1f:
      return "avx512_mic_4ops";
    case 0x27:
      return "avx512_core";
    case 0x67:
      return "avx512_core_vnni";
    case 0xe7:
      return "avx512_core_bf16";
    case 0x3e7:
      return "avx512_core_amx";
    default:
      return "ISA " + std::to_string(fn());
  }
}

#if defined(__x86_64__)
// The first feature a capability needs that this CPU lacks, or "".
std::string missing_feature(const std::string& capability) {
  __builtin_cpu_init();
  if (capability == "avx2" || capability == "avx512") {
    if (!__builtin_cpu_supports("avx2")) return "AVX2";
    if (!__builtin_cpu_supports("fma")) return "FMA";
  }
  if (capability == "avx512") {
    if (!__builtin_cpu_supports("avx512f")) return "AVX512F";
    if (!__builtin_cpu_supports("avx512bw")) return "AVX512BW";
    if (!__builtin_cpu_supports("avx512vl")) return "AVX512VL";
    if (!__builtin_cpu_supports("avx512dq")) return "AVX512DQ";
  }
  return "";
}
#endif

// Sets VAR=value for this process (and what it starts), recording what it
// was. Returns whether it changed anything.
bool set_var(PinState& s, const char* var, const std::string& value) {
  const char* was = std::getenv(var);
  if (was != nullptr && value == was) return false;
  if (!s.set.contains(var)) s.set[var] = {{"from", was ? json(was) : json(nullptr)}};
  s.set[var]["to"] = value;
  ::setenv(var, value.c_str(), 1);
  return true;
}

// This program again, same command line, same pid, with the environment as
// it is now: the libraries load afresh and read it.
[[noreturn]] void reexecute(const PinState& s) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (std::size_t b = 0; b < all.size();) {
    const std::size_t e = all.find('\0', b);
    args.push_back(all.substr(b, e == std::string::npos ? std::string::npos : e - b));
    b = e == std::string::npos ? all.size() : e + 1;
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::setenv("MLTRAIN_KERNEL_PIN", s.set.dump().c_str(), 1);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  if (!args.empty()) ::execv("/proc/self/exe", argv.data());
  ::unsetenv("MLTRAIN_KERNEL_PIN");
  fail_usage(std::string("deterministic: cannot re-execute this program to load the portable "
                         "CPU kernels (/proc/self/exe: ") +
             std::strerror(errno) + ")");
}

void fail_pin(const std::string& what) {
  fail_usage("the CPU kernels asked for do not hold although their variables are set (" + what +
             "); use deterministic=false with runtime.cpu_capability=native, or an OpenBLAS "
             "built for several CPUs (DYNAMIC_ARCH)");
}

}  // namespace

bool is_cpu_capability(const std::string& name) {
  return name == "native" || name == "default" || name == "avx2" || name == "avx512";
}

json cpu_kernels() {
  PinState& s = pin_state();
  read_pin_record(s);
  const std::string core = openblas_core();
  json pin = s.set;
  pin["reexecuted"] = s.reexecuted;
  return {{"openblas_core", core.empty() ? json(nullptr) : json(core)},
          {"aten_capability", aten_capability()},
          {"onednn", at::globalContext().userEnabledMkldnn() ? "on (" + onednn_isa() + ")" : "off"},
          {"pinned", s.pinned},
          {"pin", pin}};
}

void pin_cpu_kernels(bool deterministic, const std::string& capability) {
  PinState& s = pin_state();
  read_pin_record(s);
  if (!is_cpu_capability(capability)) {
    fail_usage("key 'runtime.cpu_capability': \"" + capability +
               "\" is not a capability (expected native, default, avx2 or avx512)");
  }
  at::globalContext().setUserEnabledMkldnn(!deterministic);
#if defined(__x86_64__)
  const std::string want = deterministic ? kCapability : capability;
  if (want == "native") {
    s.pinned = false;
    return;
  }
  if (const std::string m = missing_feature(want); !m.empty()) {
    if (deterministic) {
      fail_usage(
          "deterministic: true computes with the portable x86-64-v3 kernels (AVX2 + FMA), "
          "and this CPU has no " +
          m + "; use deterministic=false");
    }
    fail_usage("key 'runtime.cpu_capability': " + capability + " needs " + m +
               ", which this CPU does not have");
  }
  // ATen reads its variable at its first vectorised op, OpenBLAS only when
  // it loads: both are set before either is asked.
  bool changed = deterministic && set_var(s, "OPENBLAS_CORETYPE", kCore);
  changed = set_var(s, "ATEN_CPU_CAPABILITY", want) || changed;
  const std::string core = openblas_core();
  const std::string have = aten_capability();
  const bool core_ok = !deterministic || core.empty() || core == kCore;
  const bool capability_ok = have == upper(want);
  if (!core_ok || !capability_ok) {
    // A process that finds the variables already set (as a re-executed one
    // does) cannot do better by starting again.
    if (!changed) {
      fail_pin("OpenBLAS core " + (core.empty() ? std::string("none") : core) + ", LibTorch " +
               have + "; wanted " + kCore + " and " + upper(want));
    }
    reexecute(s);
  }
  s.pinned = deterministic;
#else
  // Another architecture: its own kernels, bit-exact on that machine type.
  if (capability != "native") {
    fail_usage("key 'runtime.cpu_capability': " + capability + " is an x86-64 capability");
  }
  s.pinned = false;
#endif
}

}  // namespace mltrain
