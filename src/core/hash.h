// Internal: SHA-1 / SHA-256 (OpenSSL) helpers used for run ids, data fingerprints and
// model state hashes.
#ifndef MLTRAIN_SRC_CORE_HASH_H_
#define MLTRAIN_SRC_CORE_HASH_H_

#include <cstddef>
#include <memory>
#include <string>

namespace mltrain {

std::string sha1_hex(const std::string& bytes);
std::string sha256_hex(const std::string& bytes);

// sha256 of a file's bytes; also returns its size. Throws Error naming the
// path if it cannot be read.
std::string sha256_file(const std::string& path, std::size_t* size = nullptr);

// Incremental SHA-256. Not thread-safe; one object per thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  // Returns the lowercase hex digest; the object must not be updated after.
  std::string hex_digest();
  // The digest of what was hashed so far; hashing can go on.
  std::string hex_digest_so_far() const;

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace mltrain

#endif  // MLTRAIN_SRC_CORE_HASH_H_
