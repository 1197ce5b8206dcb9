#include "core/hash.h"

#include <openssl/evp.h>

#include <cstdio>
#include <vector>

#include "mltrain/error.h"

namespace mltrain {
namespace {

std::string to_hex(const unsigned char* d, unsigned n) {
  static const char* kHex = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (unsigned i = 0; i < n; ++i) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 15];
  }
  return out;
}

std::string digest_hex(const EVP_MD* md, const std::string& bytes) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), d, &n, md, nullptr) != 1) {
    fail_run("OpenSSL digest failed");
  }
  return to_hex(d, n);
}

}  // namespace

std::string sha1_hex(const std::string& bytes) { return digest_hex(EVP_sha1(), bytes); }
std::string sha256_hex(const std::string& bytes) { return digest_hex(EVP_sha256(), bytes); }

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(new Ctx) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) {
    fail_run("OpenSSL SHA-256 init failed");
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::update(const void* data, std::size_t size) {
  if (size > 0) EVP_DigestUpdate(ctx_->md, data, size);
}

std::string Sha256::hex_digest() {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx_->md, d, &n);
  return to_hex(d, n);
}

std::string Sha256::hex_digest_so_far() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (copy == nullptr || EVP_MD_CTX_copy_ex(copy, ctx_->md) != 1 ||
      EVP_DigestFinal_ex(copy, d, &n) != 1) {
    EVP_MD_CTX_free(copy);
    fail_run("OpenSSL SHA-256 copy failed");
  }
  EVP_MD_CTX_free(copy);
  return to_hex(d, n);
}

std::string sha256_file(const std::string& path, std::size_t* size) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) fail_usage(path + ": cannot open for reading");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  std::size_t total = 0;
  std::size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    h.update(buf.data(), got);
    total += got;
  }
  bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) fail_usage(path + ": read error");
  if (size != nullptr) *size = total;
  return h.hex_digest();
}

}  // namespace mltrain
