#include "mltrain/kernels.h"

#include <gtest/gtest.h>
#include <limits.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "mltrain/error.h"

namespace mltrain {
namespace {

using nlohmann::json;

// deterministic: the portable kernels, recorded as pinned; not
// deterministic: oneDNN back on, nothing claimed pinned.
TEST(Kernels, TheDeterministicPinHoldsAndIsRecorded) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the pin is for x86-64";
#endif
  pin_cpu_kernels(true);
  json k = cpu_kernels();
  EXPECT_TRUE(k["pinned"].get<bool>()) << k.dump();
  EXPECT_EQ(k["aten_capability"], "AVX2") << k.dump();
  EXPECT_EQ(k["onednn"], "off") << k.dump();
  if (!k["openblas_core"].is_null()) EXPECT_EQ(k["openblas_core"], "Haswell") << k.dump();
  EXPECT_STREQ(std::getenv("ATEN_CPU_CAPABILITY"), "avx2");
  pin_cpu_kernels(true);  // idempotent
  EXPECT_EQ(cpu_kernels(), k);

  pin_cpu_kernels(false);
  k = cpu_kernels();
  EXPECT_FALSE(k["pinned"].get<bool>()) << k.dump();
  EXPECT_EQ(k["onednn"].get<std::string>().rfind("on (", 0), 0u) << k.dump();
}

TEST(Kernels, AnUnknownCapabilityIsAUsageError) {
  EXPECT_THROW(pin_cpu_kernels(false, "sse"), Error);
  EXPECT_TRUE(is_cpu_capability("native"));
  EXPECT_TRUE(is_cpu_capability("avx512"));
  EXPECT_FALSE(is_cpu_capability("AVX2"));
}

// The helper of the next test, run in a process of its own: LibTorch fixes
// its capability (DEFAULT, from the environment the parent gave) at its first
// vectorised op, then the pin asks for AVX2 — which only a new process can
// give, so pin_cpu_kernels re-executes this program. The re-executed process
// runs this test again from the top, finds the pin holding and writes what it
// records. Skipped when not started by the next test.
TEST(Kernels, ReexecHelper) {
  const char* out = std::getenv("KERNELS_TEST_OUT");
  if (out == nullptr) GTEST_SKIP() << "started by Kernels.ReexecutesWhenLibTorchAlreadyChose";
  (void)torch::ones({1000}).sum().item<float>();  // LibTorch chooses its kernels here
  pin_cpu_kernels(true);
  json k = cpu_kernels();
  // The record the pin passed across the re-execution: read and removed.
  bool left = false;
  for (char** e = ::environ; *e != nullptr; ++e)
    left = left || std::string(*e).rfind("MLTRAIN_KERNEL_PIN=", 0) == 0;
  k["marker_left"] = left;
  k["pid"] = static_cast<long>(::getpid());
  std::ofstream(out) << k.dump();
}

TEST(Kernels, ReexecutesWhenLibTorchAlreadyChose) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the pin is for x86-64";
#endif
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  self[n] = '\0';
  const std::string out = testing::TempDir() + "kernels_reexec.json";
  std::remove(out.c_str());
  const std::string cmd = "env ATEN_CPU_CAPABILITY=default KERNELS_TEST_OUT='" + out + "' '" +
                          self + "' --gtest_filter=Kernels.ReexecHelper >'" + out + ".log' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out);
  ASSERT_TRUE(in.good()) << "the helper wrote nothing";
  std::stringstream ss;
  ss << in.rdbuf();
  const json k = json::parse(ss.str());
  EXPECT_TRUE(k["pinned"].get<bool>()) << k.dump();
  EXPECT_EQ(k["aten_capability"], "AVX2") << k.dump();
  EXPECT_TRUE(k["pin"]["reexecuted"].get<bool>()) << k.dump();
  EXPECT_EQ(k["pin"]["ATEN_CPU_CAPABILITY"]["from"], "default") << k.dump();
  EXPECT_EQ(k["pin"]["ATEN_CPU_CAPABILITY"]["to"], "avx2") << k.dump();
  EXPECT_FALSE(k["marker_left"].get<bool>())
      << "the re-executed process's children would inherit it";
}

}  // namespace
}  // namespace mltrain
