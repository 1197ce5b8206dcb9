#include "data/sentencepiece.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <mutex>

#include "build_info.h"
#include "core/fs.h"
#include "mltrain/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define MLTRAIN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MLTRAIN_ASAN 1
#endif
#endif

namespace mltrain {
namespace {

constexpr const char* kPlugin = "libmltrain_sentencepiece.so";

struct Plugin {
  bool (*train)(const std::vector<std::string>*, bool,
                const std::unordered_map<std::string, std::string>*, unsigned, std::string*,
                std::string*) = nullptr;
  void* (*open)(const std::string*, std::string*) = nullptr;
  void (*close)(void*) = nullptr;
  bool (*encode)(const void*, const std::string*, std::vector<std::string>*,
                 std::string*) = nullptr;
  void (*vocab)(const void*, std::vector<std::string>*, std::vector<float>*) = nullptr;
  std::string error;  // why it could not be loaded
};

[[maybe_unused]] std::string exe_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string p = buf;
  return p.substr(0, p.rfind('/'));
}

// Next to the executable (build tree), in ../lib (an installed ml-train), in
// the configured install directory, in the build tree this was built in.
Plugin load() {
  Plugin p;
#if !MLTRAIN_HAVE_SENTENCEPIECE
  p.error =
      "this build has no SentencePiece (libsentencepiece was not found by pkg-config when "
      "ml-train was configured, or MLTRAIN_SENTENCEPIECE=OFF); use tokenizer.kind=word or char";
  return p;
#elif defined(MLTRAIN_ASAN)
  p.error =
      "SentencePiece is not available in an AddressSanitizer build (its plugin needs "
      "RTLD_DEEPBIND, which ASan forbids)";
  return p;
#else
  const std::vector<std::string> dirs = {exe_dir(), exe_dir() + "/../lib", MLTRAIN_INSTALL_LIBDIR,
                                         MLTRAIN_BUILD_BINARY_DIR};
  void* h = nullptr;
  std::string looked;
  for (const auto& d : dirs) {
    const std::string path = join_path(d, kPlugin);
    looked += (looked.empty() ? "" : ", ") + d;
    if (!path_exists(path)) continue;
    h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (h == nullptr) {
      p.error = path + ": cannot load (" + ::dlerror() + ")";
      return p;
    }
    break;
  }
  if (h == nullptr) {
    p.error = std::string("the SentencePiece plugin ") + kPlugin + " was not found (looked in " +
              looked + ")";
    return p;
  }
  p.train = reinterpret_cast<decltype(p.train)>(::dlsym(h, "mltrain_sp_train"));
  p.open = reinterpret_cast<decltype(p.open)>(::dlsym(h, "mltrain_sp_open"));
  p.close = reinterpret_cast<decltype(p.close)>(::dlsym(h, "mltrain_sp_close"));
  p.encode = reinterpret_cast<decltype(p.encode)>(::dlsym(h, "mltrain_sp_encode"));
  p.vocab = reinterpret_cast<decltype(p.vocab)>(::dlsym(h, "mltrain_sp_vocab"));
  if (!p.train || !p.open || !p.close || !p.encode || !p.vocab) {
    p.error = std::string(kPlugin) + ": not the plugin this ml-train expects";
  }
  return p;
#endif
}

const Plugin& plugin() {
  static const Plugin kPluginFunctions = load();
  if (!kPluginFunctions.error.empty()) {
    fail_usage("tokenizer.kind=sentencepiece: " + kPluginFunctions.error);
  }
  return kPluginFunctions;
}

}  // namespace

bool sentencepiece_built() {
#if MLTRAIN_HAVE_SENTENCEPIECE
  return true;
#else
  return false;
#endif
}

SentencePiece::SentencePiece(const std::string& model) {
  std::string error;
  processor_ = plugin().open(&model, &error);
  if (processor_ == nullptr) fail_usage("tokenizer: not a SentencePiece model (" + error + ")");
}

SentencePiece::~SentencePiece() {
  if (processor_ != nullptr) plugin().close(processor_);
}

void SentencePiece::encode(const std::string& text, std::vector<std::string>* pieces) const {
  std::string error;
  if (!plugin().encode(processor_, &text, pieces, &error)) {
    fail_usage("tokenizer: SentencePiece: " + error);
  }
}

void SentencePiece::vocab(std::vector<std::string>* pieces, std::vector<float>* scores) const {
  plugin().vocab(processor_, pieces, scores);
}

std::string SentencePiece::train(const std::vector<std::string>& texts, bool lowercase,
                                 const std::unordered_map<std::string, std::string>& options,
                                 unsigned seed) {
  std::string model, error;
  if (!plugin().train(&texts, lowercase, &options, seed, &model, &error)) {
    fail_usage("tokenizer: training SentencePiece failed: " + error);
  }
  return model;
}

}  // namespace mltrain
