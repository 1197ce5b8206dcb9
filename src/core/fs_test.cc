#include "core/fs.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "mltrain/error.h"

namespace mltrain {
namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/mltrain_fs_XXXXXX";
  return ::mkdtemp(tmpl);
}

TEST(Fs, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  std::string d = temp_dir();
  std::string p = d + "/a.json";
  write_file_atomic(p, "first");
  write_file_atomic(p, "second");
  EXPECT_EQ(read_file(p), "second");
  std::vector<std::string> names;
  DIR* dir = ::opendir(d.c_str());
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  ::closedir(dir);
  EXPECT_EQ(names, std::vector<std::string>{"a.json"});
}

TEST(Fs, RemoveTempFilesRemovesOnlyTemps) {
  std::string d = temp_dir();
  write_file_atomic(d + "/keep.pt", "x");
  write_file_atomic(d + "/keep.pt.tmp.123", "partial");
  remove_temp_files(d);
  EXPECT_TRUE(path_exists(d + "/keep.pt"));
  EXPECT_FALSE(path_exists(d + "/keep.pt.tmp.123"));
}

TEST(Fs, LineWriterTruncatesToKeptLength) {
  std::string d = temp_dir();
  std::string p = d + "/trace.jsonl";
  {
    LineWriter w;
    w.open(p, 0);
    w.append_line("{\"step\":1}");
    w.append_line("{\"step\":2}");
  }
  std::uint64_t one_line = 11;
  {
    LineWriter w;
    w.open(p, one_line);  // as after resuming from a checkpoint at step 1
    EXPECT_EQ(w.size(), one_line);
    w.append_line("{\"step\":2}");
  }
  EXPECT_EQ(read_file(p), "{\"step\":1}\n{\"step\":2}\n");
}

TEST(Fs, LineWriterRefusesAFileShorterThanRecorded) {
  std::string d = temp_dir();
  LineWriter w;
  EXPECT_THROW(w.open(d + "/trace.jsonl", 100), Error);  // damaged run directory
}

TEST(Fs, MissingFileIsAUsageError) {
  try {
    read_file("/nonexistent/file");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/file"), std::string::npos);
  }
}

TEST(Fs, LockIsExclusive) {
  std::string d = temp_dir();
  FileLock a, b;
  EXPECT_TRUE(a.try_lock(d + "/.lock"));
  EXPECT_FALSE(b.try_lock(d + "/.lock"));
}

}  // namespace
}  // namespace mltrain
