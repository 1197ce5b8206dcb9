#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "mltrain/error.h"

namespace mltrain {
namespace {

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const char* data, std::size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_usage(path + ": write failed: " + errno_text());
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(const std::string& path)
    : path_(path), tmp_(path + ".tmp." + std::to_string(::getpid())) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_usage(path + ": cannot write: " + errno_text());
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::append(const void* data, std::size_t n) {
  write_all(fd_, static_cast<const char*>(data), n, path_);  // errors name the file, not the temp
}

void AtomicFileWriter::write_at(std::uint64_t offset, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_usage(path_ + ": write failed: " + errno_text());
    }
    p += w;
    offset += static_cast<std::uint64_t>(w);
    n -= static_cast<std::size_t>(w);
  }
}

void AtomicFileWriter::commit(bool durable) {
  if (durable) ::fsync(fd_);
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::string err = errno_text();
    ::unlink(tmp_.c_str());
    fail_usage(path_ + ": cannot rename into place: " + err);
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFileWriter f(path);
  f.append(bytes.data(), bytes.size());
  f.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_usage(path + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail_usage(path + ": read error");
  return ss.str();
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void make_dirs(const std::string& path) {
  if (path.empty() || is_directory(path)) return;
  std::size_t pos = 0;
  while (true) {
    pos = path.find('/', pos + 1);
    std::string part = path.substr(0, pos);
    if (!part.empty() && !is_directory(part)) {
      if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        fail_usage(part + ": cannot create directory: " + errno_text());
      }
      if (!is_directory(part)) fail_usage(part + ": exists and is not a directory");
    }
    if (pos == std::string::npos) break;
  }
}

bool make_dir_exclusive(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return true;
  if (errno == EEXIST) return false;
  fail_usage(path + ": cannot create directory: " + errno_text());
}

std::string claim_numbered_dir(const std::string& parent) {
  make_dirs(parent);
  for (int n = 1;; ++n) {
    std::string dir = join_path(parent, std::to_string(n));
    if (make_dir_exclusive(dir)) return dir;
  }
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (!b.empty() && b[0] == '/') return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

std::uint64_t file_size_or_zero(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

void remove_temp_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.find(".tmp.") != std::string::npos) ::unlink(join_path(dir, name).c_str());
  }
  ::closedir(d);
}

LineWriter::~LineWriter() { close(); }

void LineWriter::open(const std::string& path, std::uint64_t keep_bytes,
                      const std::string& want_sha256) {
  close();
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_usage(path + ": cannot open for writing: " + errno_text());
  struct stat st;
  ::fstat(fd_, &st);
  std::uint64_t cur = static_cast<std::uint64_t>(st.st_size);
  if (cur < keep_bytes) {
    ::close(fd_);
    fd_ = -1;
    fail_usage(path + ": holds " + std::to_string(cur) + " bytes but the checkpoint recorded " +
               std::to_string(keep_bytes) +
               "; the run directory is damaged (train into a new "
               "output_dir)");
  }
  if (cur > keep_bytes) {
    if (::ftruncate(fd_, static_cast<off_t>(keep_bytes)) != 0) {
      fail_usage(path + ": cannot truncate: " + errno_text());
    }
    cur = keep_bytes;
  }
  // The running hash starts from what is kept, which must be what was there.
  hash_ = std::make_unique<Sha256>();
  if (cur > 0) {
    const std::string kept = read_file(path).substr(0, cur);
    hash_->update(kept.data(), kept.size());
  }
  if (!want_sha256.empty() && hash_->hex_digest_so_far() != want_sha256) {
    ::close(fd_);
    fd_ = -1;
    fail_usage(path + ": its first " + std::to_string(cur) +
               " bytes changed since the checkpoint recorded them; the run directory is damaged "
               "(train into a new output_dir)");
  }
  ::lseek(fd_, 0, SEEK_END);
  size_ = cur;
}

void LineWriter::append_line(const std::string& line) {
  std::string buf = line;
  buf.push_back('\n');
  write_all(fd_, buf.data(), buf.size(), path_);
  size_ += buf.size();
  hash_->update(buf.data(), buf.size());
}

void LineWriter::sync() {
  if (fd_ >= 0) ::fsync(fd_);
}

void LineWriter::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

void FileLock::lock(const std::string& path) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_usage(path + ": cannot open lock file: " + errno_text());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) fail_usage(path + ": cannot lock: " + errno_text());
  }
}

bool FileLock::try_lock(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_usage(path + ": cannot open lock file: " + errno_text());
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  return true;
}

std::string make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = join_path(tmp && *tmp ? tmp : "/tmp", prefix + ".XXXXXX");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    fail_usage(tmpl + ": cannot create a temporary directory: " + std::strerror(errno));
  }
  return buf.data();
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_usage(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail_usage(path + ": cannot stat: " + std::strerror(e));
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->size_ = static_cast<std::size_t>(st.st_size);
  if (m->size_ > 0) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      fail_usage(path + ": cannot map: " + std::strerror(e));
    }
    m->data_ = static_cast<const char*>(p);
  }
  ::close(fd);
  return m;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
}

}  // namespace mltrain
