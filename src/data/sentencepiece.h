// Internal: SentencePiece through its plugin (see sentencepiece_plugin.cc for
// why it is a plugin). Thread-safe.
#ifndef MLTRAIN_SRC_DATA_SENTENCEPIECE_H_
#define MLTRAIN_SRC_DATA_SENTENCEPIECE_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace mltrain {

// Whether this build has SentencePiece (MLTRAIN_SENTENCEPIECE; without it,
// every use below throws Error (exit 2) saying "this build has no
// SentencePiece").
bool sentencepiece_built();

// A loaded SentencePiece model. Throws Error (exit 2) when the plugin cannot
// be loaded or `model` is not a SentencePiece model.
class SentencePiece {
 public:
  explicit SentencePiece(const std::string& model);
  ~SentencePiece();
  SentencePiece(const SentencePiece&) = delete;
  SentencePiece& operator=(const SentencePiece&) = delete;

  void encode(const std::string& text, std::vector<std::string>* pieces) const;
  // Every piece with its score, in id order.
  void vocab(std::vector<std::string>* pieces, std::vector<float>* scores) const;

  // Trains a model on `texts` (lower-cased when asked) with SentencePiece's
  // trainer options; returns it serialized.
  static std::string train(const std::vector<std::string>& texts, bool lowercase,
                           const std::unordered_map<std::string, std::string>& options,
                           unsigned seed);

 private:
  void* processor_ = nullptr;
};

}  // namespace mltrain

#endif  // MLTRAIN_SRC_DATA_SENTENCEPIECE_H_
