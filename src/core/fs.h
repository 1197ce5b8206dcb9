// Internal: the file-system helpers beyond the public ones (mltrain/files.h):
// files written in pieces, numbered and temporary directories, mappings.
#ifndef MLTRAIN_SRC_CORE_FS_H_
#define MLTRAIN_SRC_CORE_FS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/hash.h"
#include "mltrain/files.h"

namespace mltrain {

// write_file_atomic for a file written in pieces: appended to a temporary
// file, which commit() fsyncs and renames over `path`. Without commit()
// (an error, an exception) the temporary file is removed and `path` is
// untouched. Errors name `path`.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void append(const void* data, std::size_t n);
  // Overwrites bytes already appended (a header written last).
  void write_at(std::uint64_t offset, const void* data, std::size_t n);
  // durable: fsync before the rename (a crash then leaves the old file or
  // the whole new one; without it, possibly an empty or partial new one).
  void commit(bool durable = true);

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};
// mkdir of one directory: true if this call created it, false if it already
// existed (atomic, so concurrent processes never both get true). Throws Error
// naming the path on any other failure.
bool make_dir_exclusive(const std::string& path);
// parent/1, parent/2, ...: creates parent if needed, then the first numbered
// directory that does not exist yet, and returns it. Two processes never get
// the same one.
std::string claim_numbered_dir(const std::string& parent);
std::uint64_t file_size_or_zero(const std::string& path);
// Removes the "*.tmp.*" files write_file_atomic leaves when killed mid-write.
void remove_temp_files(const std::string& dir);
// A new empty directory under $TMPDIR (or /tmp) named PREFIX.XXXXXX.
std::string make_temp_dir(const std::string& prefix);
// Removes a directory and everything in it; errors are ignored.
void remove_tree(const std::string& path);

// A file mapped read-only into memory (MAP_PRIVATE); unmapped when the last
// reference goes. Throws Error naming the path if it cannot be mapped.
class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// Append-only line file (metrics.jsonl, trace.jsonl). Each append writes one
// complete line with a single write(2); flush() fsyncs. A crash can at worst
// leave a partial last line, which resume truncates away using the byte
// offset stored in the checkpoint. It keeps a running sha256 of the file's
// content, so that a checkpoint can record what the first `size()` bytes
// were and a resume can check they are still that.
class LineWriter {
 public:
  LineWriter() = default;
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Opens for appending after truncating to `keep_bytes`. When `want_sha256`
  // is given, the kept bytes must hash to it (else Error: the file changed).
  void open(const std::string& path, std::uint64_t keep_bytes, const std::string& want_sha256 = "");
  void append_line(const std::string& line);
  void sync();
  void close();
  std::uint64_t size() const { return size_; }
  // sha256 of the file's content (its first size() bytes).
  std::string sha256() const { return hash_ ? hash_->hex_digest_so_far() : ""; }

 private:
  int fd_ = -1;
  std::string path_;
  std::uint64_t size_ = 0;
  std::unique_ptr<Sha256> hash_;
};

// Exclusive advisory lock on a file (flock); released on destruction or when
// the process dies, including by SIGKILL.
class FileLock {
 public:
  FileLock() = default;
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  // Returns false if another process holds the lock.
  bool try_lock(const std::string& path);
  // Waits until the lock is free, then takes it.
  void lock(const std::string& path);

 private:
  int fd_ = -1;
};

}  // namespace mltrain

#endif  // MLTRAIN_SRC_CORE_FS_H_
