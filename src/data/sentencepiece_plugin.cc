// The SentencePiece plugin, libmltrain_sentencepiece.so: the only code that
// touches Debian's libsentencepiece. That library carries its own copy of
// protobuf (3.14) and exports its symbols, which clash with the protobuf
// (3.21) LibTorch loads: linked into one process, either one calls into the
// other and aborts. So the data layer loads this plugin with dlopen
// (RTLD_LOCAL | RTLD_DEEPBIND, src/data/sentencepiece.cc): libsentencepiece
// then binds to its own protobuf and nothing else sees it. The plugin
// exports five C functions and nothing else.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <string>
#include <unordered_map>
#include <vector>

#define MLTRAIN_SP_API extern "C" __attribute__((visibility("default")))

namespace {

// The training texts for SentencePiece's trainer, lower-cased when asked.
class Texts : public sentencepiece::SentenceIterator {
 public:
  Texts(const std::vector<std::string>& texts, bool lowercase)
      : texts_(texts), lowercase_(lowercase) {
    load();
  }
  bool done() const override { return i_ >= texts_.size(); }
  void Next() override {
    ++i_;
    load();
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (i_ >= texts_.size()) return;
    value_ = texts_[i_];
    if (lowercase_) {
      for (char& c : value_) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
  }
  const std::vector<std::string>& texts_;
  bool lowercase_;
  std::size_t i_ = 0;
  std::string value_;
};

}  // namespace

MLTRAIN_SP_API bool mltrain_sp_train(const std::vector<std::string>* texts, bool lowercase,
                                     const std::unordered_map<std::string, std::string>* options,
                                     unsigned seed, std::string* model, std::string* error) {
  sentencepiece::SetRandomGeneratorSeed(seed);
  Texts it(*texts, lowercase);
  const auto status = sentencepiece::SentencePieceTrainer::Train(*options, &it, model);
  if (!status.ok()) *error = status.error_message();
  return status.ok();
}

MLTRAIN_SP_API void* mltrain_sp_open(const std::string* model, std::string* error) {
  auto* p = new sentencepiece::SentencePieceProcessor();
  const auto status = p->LoadFromSerializedProto(*model);
  if (status.ok()) return p;
  *error = status.error_message();
  delete p;
  return nullptr;
}

MLTRAIN_SP_API void mltrain_sp_close(void* processor) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(processor);
}

MLTRAIN_SP_API bool mltrain_sp_encode(const void* processor, const std::string* text,
                                      std::vector<std::string>* pieces, std::string* error) {
  const auto* p = static_cast<const sentencepiece::SentencePieceProcessor*>(processor);
  const auto status = p->Encode(*text, pieces);
  if (!status.ok()) *error = status.error_message();
  return status.ok();
}

MLTRAIN_SP_API void mltrain_sp_vocab(const void* processor, std::vector<std::string>* pieces,
                                     std::vector<float>* scores) {
  const auto* p = static_cast<const sentencepiece::SentencePieceProcessor*>(processor);
  for (int i = 0; i < p->GetPieceSize(); ++i) {
    pieces->push_back(p->IdToPiece(i));
    scores->push_back(p->GetScore(i));
  }
}
