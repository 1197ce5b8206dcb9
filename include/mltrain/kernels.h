// The CPU kernels a process computes with, and the pin that makes a
// deterministic run's bits the same on every x86-64-v3 (AVX2 + FMA) machine.
//
// Three libraries pick their kernels from the CPU they run on, and each
// choice changes the order of floating-point sums (so the bits):
//   OpenBLAS   its core type (DYNAMIC_ARCH: Haswell, SkylakeX, Zen, ...),
//              read once when the library loads (OPENBLAS_CORETYPE); the
//              core fixes its blocking too (this release compiles each
//              core's block sizes in; OPENBLAS_L2_SIZE is not read)
//   ATen       LibTorch's vectorised CPU kernels: default, AVX2 or AVX512
//              (ATEN_CPU_CAPABILITY), chosen at its first vectorised op
//   oneDNN     LibTorch's convolutions, with the widest ISA the CPU has
// The pin: OpenBLAS core Haswell, ATen AVX2, oneDNN off (convolutions then
// run as matrix products through the pinned OpenBLAS). ml-train's own
// vectorised kernels (FusedAdam, bow's backward) give the same bits on every
// path they take.
#ifndef MLTRAIN_KERNELS_H_
#define MLTRAIN_KERNELS_H_

#include <nlohmann/json.hpp>
#include <string>

namespace mltrain {

// The kernels in use now (env.json's "kernels"):
//   openblas_core    as loaded (openblas_get_corename), null without OpenBLAS
//   aten_capability  "DEFAULT", "AVX2" or "AVX512" (LibTorch's "NO AVX" is
//                    DEFAULT)
//   onednn           "off", or "on (<widest ISA it uses>)"
//   pinned           true when pin_cpu_kernels(true, ...) holds in this process
//   pin              what the pin set: {"VAR": {"from": was, "to": now}} and
//                    "reexecuted": whether the process re-executed itself for it
nlohmann::json cpu_kernels();

// The ATen capabilities runtime.cpu_capability accepts: native (what
// LibTorch picks for this CPU), default, avx2, avx512.
bool is_cpu_capability(const std::string& name);

// Puts the kernels in place before a run computes anything:
// - deterministic: the portable pin above. OPENBLAS_CORETYPE=Haswell and
//   ATEN_CPU_CAPABILITY=avx2 are set (whatever they were: `capability` is
//   not used) and oneDNN is turned off. OpenBLAS reads its core type only
//   when it loads, so when the loaded core is another one the process
//   re-executes itself once (/proc/self/exe with its own command line and
//   the new environment; the same pid): call this before writing anything
//   or starting threads whose work would be lost. Error (exit 2) naming the
//   missing feature on a CPU without AVX2 or FMA, and when the pin does not
//   hold after the re-execution. On a CPU that is not x86-64 nothing is
//   pinned (cpu_kernels() says so).
// - not deterministic: the native kernels, oneDNN on; `capability` other
//   than "native" sets ATEN_CPU_CAPABILITY (as a CPU of that kind would pick
//   it; re-executing when LibTorch already chose), for `verify --vary
//   runtime.cpu_capability=...`. Error (exit 2) for one this CPU cannot run.
// Idempotent; Run::open calls it, and `ml-train train` before it starts ranks.
void pin_cpu_kernels(bool deterministic, const std::string& capability = "native");

}  // namespace mltrain

#endif  // MLTRAIN_KERNELS_H_
