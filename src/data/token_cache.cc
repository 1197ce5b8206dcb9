// The token cache: encoded splits written once, memory-mapped by every run
// with the same data and tokenizer settings (token_cache.h).
#include "data/token_cache.h"

#include <cstring>
#include <functional>
#include <utility>

#include "core/fs.h"
#include "core/hash.h"

namespace mltrain {
namespace {

constexpr char kMagic[8] = {'M', 'L', 'T', 'T', 'O', 'K', 'C', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeader = 8 + 4 + 4 + 8 + 64;

// Emits a payload through `put`, keeping the 8-byte alignment of arrays.
class PayloadWriter {
 public:
  explicit PayloadWriter(std::function<void(const void*, std::size_t)> put)
      : put_(std::move(put)) {}
  void u64(std::uint64_t v) { bytes(&v, sizeof v); }
  void bytes(const void* p, std::size_t n) {
    put_(p, n);
    size_ += n;
  }
  void pad8() {
    static const char kZeros[8] = {};
    if (size_ % 8 != 0) bytes(kZeros, 8 - size_ % 8);
  }
  void block(const std::string& b) {
    u64(b.size());
    bytes(b.data(), b.size());
    pad8();
  }
  std::uint64_t size() const { return size_; }

 private:
  std::function<void(const void*, std::size_t)> put_;
  std::uint64_t size_ = 0;
};

void write_payload(const TokenCacheMeta& m, const TokenCacheSplit (&splits)[3], PayloadWriter* w) {
  const nlohmann::json meta = {{"fingerprint", *m.fingerprint}, {"labels", *m.labels}};
  w->block(meta.dump());
  w->block(m.vocab->to_text());
  w->block(*m.tokenizer_model);
  for (const TokenCacheSplit& s : splits) {
    std::uint64_t total = 0;
    for (const auto& piece : s.ids) total += piece.second;
    w->u64(static_cast<std::uint64_t>(s.n));
    w->u64(total);
    w->bytes(s.offsets, static_cast<std::size_t>(s.n + 1) * 8);
    w->pad8();
    w->bytes(s.labels, static_cast<std::size_t>(s.n) * 8);
    w->pad8();
    for (const auto& piece : s.ids) w->bytes(piece.first, piece.second * 4);
    w->pad8();
  }
}

std::string header_bytes(std::uint64_t payload, const std::string& sha256) {
  std::string out(kMagic, 8);
  const std::uint32_t version = kVersion, zero = 0;
  out.append(reinterpret_cast<const char*>(&version), 4);
  out.append(reinterpret_cast<const char*>(&zero), 4);
  out.append(reinterpret_cast<const char*>(&payload), 8);
  return out + sha256;
}

TokenCacheSplit split_arrays(const EncodedSplit& s) {
  TokenCacheSplit out;
  out.n = s.size();
  out.offsets = s.offsets();
  out.labels = s.labels();
  out.ids.emplace_back(s.ids(), static_cast<std::size_t>(s.total_tokens()));
  return out;
}

// Reads the payload front to back; every read is bounds-checked.
class Cursor {
 public:
  Cursor(const char* p, std::size_t n) : p_(p), n_(n) {}
  bool u64(std::uint64_t* v) {
    if (n_ - pos_ < 8) return false;
    std::memcpy(v, p_ + pos_, 8);
    pos_ += 8;
    return true;
  }
  // `count` elements of `size` bytes, 8-aligned after.
  const char* take(std::uint64_t count, std::size_t size) {
    if (count > (n_ - pos_) / size) return nullptr;
    const char* at = p_ + pos_;
    pos_ += static_cast<std::size_t>(count) * size;
    pos_ = std::min(n_, (pos_ + 7) / 8 * 8);
    return at;
  }
  bool block(std::string* out) {
    std::uint64_t n = 0;
    if (!u64(&n)) return false;
    const char* at = take(n, 1);
    if (at == nullptr) return false;
    out->assign(at, static_cast<std::size_t>(n));
    return true;
  }
  bool done() const { return pos_ == n_; }

 private:
  const char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

}  // namespace

void write_token_cache(const std::string& path, const TokenCacheMeta& meta,
                       const TokenCacheSplit (&splits)[3]) {
  AtomicFileWriter f(path);
  const std::string placeholder(kHeader, '\0');
  f.append(placeholder.data(), placeholder.size());
  Sha256 h;
  PayloadWriter w([&](const void* p, std::size_t n) {
    h.update(p, n);
    f.append(p, n);
  });
  write_payload(meta, splits, &w);
  const std::string header = header_bytes(w.size(), h.hex_digest());
  f.write_at(0, header.data(), header.size());
  f.commit(/*durable=*/false);
}

std::string token_cache_bytes(const PreparedData& d) {
  std::string payload;
  PayloadWriter w(
      [&](const void* p, std::size_t n) { payload.append(static_cast<const char*>(p), n); });
  const TokenCacheMeta meta{&d.fingerprint, &d.label_names, &d.vocab, &d.tokenizer_model};
  const TokenCacheSplit splits[3] = {split_arrays(d.train), split_arrays(d.val),
                                     split_arrays(d.test)};
  write_payload(meta, splits, &w);
  return token_cache_entry(payload);
}

std::string token_cache_entry(const std::string& payload) {
  return header_bytes(payload.size(), sha256_hex(payload)) + payload;
}

bool load_token_cache(const std::string& path, PreparedData* out, std::string* why,
                      bool just_written) {
  std::shared_ptr<const MappedFile> m;
  try {
    m = MappedFile::open(path);
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
  const char* p = m->data();
  std::uint32_t version = 0;
  std::uint64_t payload = 0;
  if (m->size() < kHeader || std::memcmp(p, kMagic, 8) != 0) {
    *why = "not a token cache entry";
    return false;
  }
  std::memcpy(&version, p + 8, 4);
  std::memcpy(&payload, p + 16, 8);
  if (version != kVersion) {
    *why = "format version " + std::to_string(version) + ", expected " + std::to_string(kVersion);
    return false;
  }
  if (payload != m->size() - kHeader) {
    *why = "truncated (" + std::to_string(m->size() - kHeader) + " payload bytes, header says " +
           std::to_string(payload) + ")";
    return false;
  }
  Sha256 h;
  if (!just_written) h.update(p + kHeader, static_cast<std::size_t>(payload));
  if (!just_written && h.hex_digest() != std::string(p + 24, 64)) {
    *why = "checksum mismatch";
    return false;
  }
  Cursor c(p + kHeader, static_cast<std::size_t>(payload));
  std::string meta_text, vocab_text, model;
  if (!c.block(&meta_text) || !c.block(&vocab_text) || !c.block(&model)) {
    *why = "bad header blocks";
    return false;
  }
  PreparedData d;
  try {
    const nlohmann::json meta = nlohmann::json::parse(meta_text);
    d.fingerprint = meta.at("fingerprint");
    d.label_names = meta.at("labels").get<std::vector<std::string>>();
    d.vocab = Vocab::from_text(vocab_text, path);
  } catch (const std::exception& e) {
    *why = std::string("bad metadata: ") + e.what();
    return false;
  }
  d.tokenizer_model = model;
  const auto vocab = static_cast<std::int32_t>(d.vocab.size());
  const auto classes = static_cast<std::int64_t>(d.label_names.size());
  const char* names[] = {"train", "val", "test"};
  EncodedSplit* splits[] = {&d.train, &d.val, &d.test};
  for (int k = 0; k < 3; ++k) {
    std::uint64_t n = 0, total = 0;
    if (!c.u64(&n) || !c.u64(&total) || n >= (1ull << 40) || total >= (1ull << 40)) {
      *why = std::string(names[k]) + ": bad sizes";
      return false;
    }
    const auto* offsets = reinterpret_cast<const std::int64_t*>(c.take(n + 1, 8));
    const auto* labels = reinterpret_cast<const std::int64_t*>(c.take(n, 8));
    const auto* ids = reinterpret_cast<const std::int32_t*>(c.take(total, 4));
    if (offsets == nullptr || labels == nullptr || ids == nullptr) {
      *why = std::string(names[k]) + ": truncated";
      return false;
    }
    bool ok = offsets[0] == 0 && static_cast<std::uint64_t>(offsets[n]) == total;
    for (std::uint64_t i = 0; ok && i < n; ++i) {
      ok = offsets[i] <= offsets[i + 1] && labels[i] >= 0 && labels[i] < classes;
    }
    for (std::uint64_t i = 0; ok && !just_written && i < total; ++i) {
      ok = ids[i] >= 0 && ids[i] < vocab;
    }
    if (!ok) {
      *why = std::string(names[k]) + ": an offset, label or token id out of range";
      return false;
    }
    *splits[k] =
        EncodedSplit::view(names[k], static_cast<std::int64_t>(n), offsets, ids, labels, m);
  }
  if (!c.done()) {
    *why = "trailing bytes";
    return false;
  }
  *out = std::move(d);
  return true;
}

}  // namespace mltrain
