// The environment manifest (env.json): everything outside the config that
// can change numerics, so that `reproduce` and `diff` can say what differs.
#ifndef MLTRAIN_ENV_H_
#define MLTRAIN_ENV_H_

#include <nlohmann/json.hpp>
#include <string>

namespace mltrain {

// ml-train version and source revision, compiler, C++ standard library,
// LibTorch version and build flags, CUDA/cuDNN (or null), the BLAS library
// actually mapped into this process, intra-/inter-op threads, CPU model and
// SIMD flags, GPU names, OS/kernel, glibc, and numerics-relevant env vars.
nlohmann::json environment_manifest();

// The BLAS/LAPACK shared objects mapped into this process, resolved through
// symlinks (e.g. .../openblas-pthread/libblas.so.3).
std::string loaded_blas();

// ml-train's version string "X.Y.Z (revision)".
std::string version_string();

}  // namespace mltrain

#endif  // MLTRAIN_ENV_H_
