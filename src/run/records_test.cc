#include "mltrain/records.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::string run_dir() {
  char tmpl[] = "/tmp/mltrain_records_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  write_file_atomic(dir + "/config.json", "{\"seed\":1}");
  return dir;
}

TEST(LoadRun, ReadsEveryRecordAndToleratesMissingOnes) {
  const std::string dir = run_dir();
  RunRecord r = load_run(dir);
  EXPECT_EQ(r.config["seed"], 1);
  EXPECT_TRUE(r.run.is_null());
  EXPECT_TRUE(r.summary.is_null());
  EXPECT_TRUE(r.trace.empty());
  EXPECT_EQ(r.status(), "");
  EXPECT_EQ(r.run_id(), sha1_hex("{\"seed\":1}").substr(0, 8));
  EXPECT_EQ(r.state_hash(), "");

  write_file_atomic(dir + "/summary.json",
                    "{\"state_hash\": \"abcd\", \"state_sha256\": \"abcdef\"}");
  r = load_run(dir);
  EXPECT_EQ(r.status(), "completed");  // a result without run.json
  EXPECT_EQ(r.state_sha256(), "abcdef");
  write_file_atomic(dir + "/run.json", "{\"status\": \"interrupted\"}");
  EXPECT_EQ(load_run(dir).status(), "interrupted");
}

TEST(LoadRun, IgnoresATornLastLine) {
  const std::string dir = run_dir();
  write_file_atomic(dir + "/trace.jsonl", "{\"step\":1}\n{\"step\":2}\n{\"st");
  EXPECT_EQ(load_run(dir).trace.size(), 2u);
}

TEST(LoadRun, ErrorsNameTheFileAndLine) {
  const std::string dir = run_dir();
  write_file_atomic(dir + "/metrics.jsonl", "{\"epoch\":1}\n{oops}\n{\"epoch\":3}\n");
  try {
    load_run(dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl:2: invalid JSON"), std::string::npos)
        << e.what();
  }
  try {
    load_run(dir + "/nowhere");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a directory"), std::string::npos);
  }
  EXPECT_FALSE(is_run_dir("/tmp"));
  EXPECT_TRUE(is_run_dir(dir));
}

TEST(JsonAt, FollowsDottedPathsAndNeverThrows) {
  json j = {{"model", {{"arch", "cnn"}}}, {"seed", 3}, {"list", {1, 2}}};
  EXPECT_EQ(json_at(j, "model.arch"), "cnn");
  EXPECT_EQ(json_at(j, "seed"), 3);
  EXPECT_TRUE(json_at(j, "model.depth").is_null());
  EXPECT_TRUE(json_at(j, "seed.x").is_null());
  EXPECT_TRUE(json_at(j, "list.0").is_null());
  EXPECT_TRUE(json_at(json(nullptr), "a").is_null());
  EXPECT_TRUE(json_at(json::array(), "a").is_null());
}

}  // namespace
}  // namespace mltrain
