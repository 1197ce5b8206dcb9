#include <algorithm>
#include <map>
#include <sstream>

#include "core/hash.h"
#include "core/parallel.h"
#include "data/sentencepiece.h"
#include "mltrain/data.h"
#include "mltrain/error.h"
#include "mltrain/rng.h"

namespace mltrain {
namespace {

// Character classes for the word tokenizer, by byte.
enum : unsigned char { kSep = 0, kWord = 1, kPunct = 2 };

struct ByteClasses {
  unsigned char cls[256];
  ByteClasses() {
    for (int c = 0; c < 256; ++c) {
      if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        cls[c] = kWord;
      } else if (c == '.' || c == ',' || c == '(' || c == ')' || c == '!' || c == '?' ||
                 c == '\'') {
        cls[c] = kPunct;
      } else {
        cls[c] = kSep;
      }
    }
  }
};

const ByteClasses& classes() {
  static const ByteClasses kClasses;
  return kClasses;
}

inline char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string lowered(std::string_view text) {
  std::string s(text);
  for (char& c : s) c = lower_ascii(c);
  return s;
}

}  // namespace

Tokenizer::Tokenizer(const TokenizerConfig& cfg, const std::string& sp_model) : cfg_(cfg) {
  if (cfg.kind == "sentencepiece") sp_ = std::make_unique<SentencePiece>(sp_model);
}

Tokenizer::~Tokenizer() = default;

void Tokenizer::add_ngrams(std::vector<std::string>* out) const {
  if (cfg_.ngrams < 2) return;
  const std::size_t base = out->size();
  std::vector<std::string> grams;
  if (cfg_.kind == "char") {
    // Within words, each padded with a space: " ab " gives " a", "ab", "b ".
    std::size_t s = 0;
    while (s < base) {
      if ((*out)[s] == " ") {
        ++s;
        continue;
      }
      std::size_t e = s;
      while (e < base && (*out)[e] != " ") ++e;
      std::vector<const std::string*> word;
      static const std::string kBoundary = " ";
      word.push_back(&kBoundary);
      for (std::size_t k = s; k < e; ++k) word.push_back(&(*out)[k]);
      word.push_back(&kBoundary);
      for (std::int64_t g = 2; g <= cfg_.ngrams; ++g) {
        for (std::size_t k = 0; k + static_cast<std::size_t>(g) <= word.size(); ++k) {
          std::string gram;
          for (std::int64_t t = 0; t < g; ++t) gram += *word[k + static_cast<std::size_t>(t)];
          grams.push_back(std::move(gram));
        }
      }
      s = e;
    }
  } else {
    for (std::int64_t g = 2; g <= cfg_.ngrams; ++g) {
      for (std::size_t s = 0; s + static_cast<std::size_t>(g) <= base; ++s) {
        std::string gram = (*out)[s];
        for (std::int64_t t = 1; t < g; ++t) {
          gram.push_back(' ');
          gram += (*out)[s + static_cast<std::size_t>(t)];
        }
        grams.push_back(std::move(gram));
      }
    }
  }
  const auto buckets = static_cast<std::uint64_t>(cfg_.hash_buckets);
  for (auto& g : grams) {
    out->push_back(buckets > 0 ? "#" + std::to_string(purpose_hash(g) % buckets) : std::move(g));
  }
}

void Tokenizer::tokenize(std::string_view text, std::vector<std::string>* out) const {
  out->clear();
  if (sp_) {
    sp_->encode(cfg_.lowercase ? lowered(text) : std::string(text), out);
    if (out->size() > static_cast<std::size_t>(cfg_.max_len)) {
      out->resize(static_cast<std::size_t>(cfg_.max_len));
    }
    add_ngrams(out);
    return;
  }
  const std::size_t max_len = static_cast<std::size_t>(cfg_.max_len);
  const unsigned char* cls = classes().cls;
  const std::size_t n = text.size();
  std::size_t i = 0;
  if (cfg_.kind == "char") {
    bool pending_space = false;
    while (i < n && out->size() < max_len) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        pending_space = !out->empty();
        ++i;
        continue;
      }
      if (pending_space) {
        out->emplace_back(" ");
        pending_space = false;
        if (out->size() >= max_len) break;
      }
      std::size_t len = c < 0x80 ? 1 : (c >= 0xF0 ? 4 : (c >= 0xE0 ? 3 : 2));
      len = std::min(len, n - i);
      std::string tok(text.substr(i, len));
      if (cfg_.lowercase && len == 1) tok[0] = lower_ascii(tok[0]);
      out->push_back(std::move(tok));
      i += len;
    }
    add_ngrams(out);
    return;
  }
  while (i < n && out->size() < max_len) {
    unsigned char k = cls[static_cast<unsigned char>(text[i])];
    if (k == kSep) {
      ++i;
      continue;
    }
    if (k == kPunct) {
      out->emplace_back(1, text[i]);
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < n && cls[static_cast<unsigned char>(text[j])] == kWord) ++j;
    out->emplace_back(text.substr(i, j - i));
    if (cfg_.lowercase) {
      for (char& c : out->back()) c = lower_ascii(c);
    }
    i = j;
  }
  add_ngrams(out);
}

std::string train_sentencepiece(const TokenizerConfig& cfg, const std::vector<std::string>& texts,
                                std::uint64_t seed, int threads) {
  // BPE's pieces are the same for any thread count; the unigram model's EM
  // sums its expected counts per thread, so its scores depend on the count:
  // it always trains with the same number, whatever the machine.
  constexpr int kUnigramThreads = 4;
  const int train_threads = cfg.sp_type == "unigram" ? kUnigramThreads : std::max(1, threads);
  const std::unordered_map<std::string, std::string> options = {
      {"model_type", cfg.sp_type},
      {"vocab_size", std::to_string(cfg.vocab_size)},
      {"num_threads", std::to_string(train_threads)},
      {"input_sentence_size", "0"},  // every text: no sampling
      {"max_sentence_length", "1048576"},
      {"hard_vocab_limit", "false"},  // a small corpus gets fewer pieces, not an error
      {"character_coverage", "1.0"},
      {"minloglevel", "2"}};
  return SentencePiece::train(texts, cfg.lowercase, options, static_cast<unsigned>(seed));
}

std::string sentencepiece_fingerprint(const std::string& sp_model, std::int64_t* pieces) {
  std::vector<std::string> names;
  std::vector<float> scores;
  SentencePiece(sp_model).vocab(&names, &scores);
  Sha256 h;
  for (std::size_t i = 0; i < names.size(); ++i) {
    h.update(names[i].data(), names[i].size());
    h.update("\t", 1);
    h.update(&scores[i], sizeof(float));
    h.update("\n", 1);
  }
  if (pieces != nullptr) *pieces = static_cast<std::int64_t>(names.size());
  return h.hex_digest();
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& docs, std::int64_t min_freq,
                   std::int64_t max_vocab, int threads) {
  // Counted per part, then summed: counts do not depend on the split.
  const int parts = parallel_parts(docs.size(), threads);
  std::vector<std::unordered_map<std::string, std::int64_t>> part_counts(
      static_cast<std::size_t>(parts));
  parallel_ranges(docs.size(), parts, [&](std::size_t begin, std::size_t end, int p) {
    auto& c = part_counts[static_cast<std::size_t>(p)];
    for (std::size_t i = begin; i < end; ++i) {
      for (const auto& t : docs[i]) ++c[t];
    }
  });
  std::unordered_map<std::string, std::int64_t> counts = std::move(part_counts[0]);
  for (std::size_t p = 1; p < part_counts.size(); ++p) {
    for (auto& kv : part_counts[p]) counts[kv.first] += kv.second;
  }
  return from_counts(counts, min_freq, max_vocab);
}

Vocab Vocab::from_counts(const std::unordered_map<std::string, std::int64_t>& counts,
                         std::int64_t min_freq, std::int64_t max_vocab) {
  std::vector<std::pair<std::string, std::int64_t>> items;
  items.reserve(counts.size());
  for (auto& kv : counts) {
    if (kv.second >= min_freq) items.emplace_back(kv.first, kv.second);
  }
  // Frequency descending, then token ascending: independent of hash order.
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  Vocab v;
  v.tokens_ = {"<pad>", "<unk>"};
  v.counts_ = {0, 0};
  for (const auto& it : items) {
    if (static_cast<std::int64_t>(v.tokens_.size()) >= max_vocab) break;
    v.tokens_.push_back(it.first);
    v.counts_.push_back(it.second);
  }
  for (std::size_t i = 0; i < v.tokens_.size(); ++i) {
    v.index_.emplace(v.tokens_[i], static_cast<std::int32_t>(i));
  }
  return v;
}

Vocab Vocab::from_text(const std::string& text, const std::string& where) {
  Vocab v;
  std::size_t pos = 0;
  std::int64_t line = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    ++line;
    std::string row = text.substr(pos, nl - pos);
    pos = nl + 1;
    auto tab = row.rfind('\t');
    if (tab == std::string::npos) {
      fail_usage(where + ":" + std::to_string(line) + ": expected TOKEN<TAB>COUNT");
    }
    v.tokens_.push_back(row.substr(0, tab));
    v.counts_.push_back(std::atoll(row.c_str() + tab + 1));
  }
  if (v.tokens_.size() < 2 || v.tokens_[0] != "<pad>" || v.tokens_[1] != "<unk>") {
    fail_usage(where + ": not an ml-train vocabulary (expected <pad> and <unk> first)");
  }
  for (std::size_t i = 0; i < v.tokens_.size(); ++i) {
    v.index_.emplace(v.tokens_[i], static_cast<std::int32_t>(i));
  }
  return v;
}

std::int32_t Vocab::id(const std::string& token) const {
  auto it = index_.find(token);
  return it == index_.end() ? kUnk : it->second;
}

std::string Vocab::to_text() const {
  std::string out;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    out += tokens_[i];
    out.push_back('\t');
    out += std::to_string(counts_[i]);
    out.push_back('\n');
  }
  return out;
}

}  // namespace mltrain
