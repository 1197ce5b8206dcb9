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

  const std::string sha = sha256_hex("x");
  write_file_atomic(
      dir + "/summary.json",
      nlohmann::json({{"state_hash", sha.substr(0, 16)}, {"state_sha256", sha}}).dump());
  r = load_run(dir);
  EXPECT_EQ(r.status(), "completed");  // a result without run.json
  EXPECT_EQ(r.state_sha256(), sha);
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
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl:2:2: invalid JSON"), std::string::npos)
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

// Every record is read through one typed reader: a file of the wrong shape is
// an error naming the file and the field, never a json.exception.
TEST(LoadRun, ValidatesEveryRecordItReads) {
  struct Case {
    const char* file;
    const char* content;
    const char* message;
  };
  const std::string sha = sha256_hex("x");
  const std::vector<Case> cases = {
      {"run.json", "[]", "run.json: expected a JSON object"},
      {"run.json", "{\"status\": 7}", "run.json: field 'status': expected one of running|"},
      {"run.json", "{\"attempts\": [{\"resumed_from_step\": \"x\"}]}",
       "field 'attempts[0].resumed_from_step': expected an integer"},
      {"summary.json", "{\"state_hash\": 12}", "summary.json: field 'state_hash': expected 16 hex"},
      {"summary.json", "{\"val\": {\"acc\": \"high\"}}", "field 'val.acc': expected a number"},
      {"summary.json", "{\"steps\": 1e999}", "summary.json:1:"},
      {"data.json", "{\"labels\": [\"ham\", 3]}", "field 'labels[1]': expected a string"},
      {"data.json", "{\"files\": [{\"split\": \"train\", \"sha256\": null}]}",
       "field 'files[0].sha256': expected 64 hex"},
      {"data.json", "{\"files\": {}}", "field 'files': expected a list"},
      {"metrics.jsonl", "{\"epoch\": 1}\n[1, 2]\n", "metrics.jsonl:2: expected a JSON object"},
      {"metrics.jsonl", "{\"epoch\": 1e999}\n", "metrics.jsonl:1:"},
      {"trace.jsonl", "{\"step\": 1, \"loss\": 3.5}\n", "field 'loss': expected 8 hex"},
      {"env.json", "\"text\"", "env.json: expected a JSON object"},
      {"config.json", "[1]", "config.json: expected a JSON object"},
  };
  for (const Case& c : cases) {
    const std::string dir = run_dir();
    write_file_atomic(dir + "/" + c.file, c.content);
    try {
      load_run(dir);
      ADD_FAILURE() << c.file << " " << c.content << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
    }
  }
}

TEST(LoadRun, ABriefReadHoldsOnlyTheLastWholeMetricsLine) {
  const std::string dir = run_dir();
  std::string lines;
  for (int e = 1; e <= 300; ++e) {  // the last one longer than a first read of the tail
    lines += "{\"epoch\": " + std::to_string(e) + ", \"val_mse\": " + std::to_string(e) +
             ".5, \"note\": \"" + std::string(e == 300 ? 9000 : 40, 'x') + "\"}\n";
  }
  write_file_atomic(dir + "/metrics.jsonl", lines + "{\"epoch\": 301, \"val_m");  // torn
  RunRecord r = load_run(dir, RunParts::kBrief);
  ASSERT_EQ(r.metrics.size(), 1u);
  EXPECT_EQ(r.metrics[0]["epoch"], 300);
  EXPECT_EQ(r.metrics[0]["val_mse"], 300.5);
  EXPECT_EQ(load_run(dir).metrics.size(), 300u);
  // One line without a newline is torn: nothing.
  write_file_atomic(dir + "/metrics.jsonl", "{\"epoch\": 1}");
  EXPECT_TRUE(load_run(dir, RunParts::kBrief).metrics.empty());
  // A damaged last line leaves the brief read without it; the full read says
  // what is wrong.
  write_file_atomic(dir + "/metrics.jsonl", "{\"epoch\": 1}\n{\"epoch\": \"x\"}\n");
  EXPECT_TRUE(load_run(dir, RunParts::kBrief).metrics.empty());
  EXPECT_THROW(load_run(dir), Error);
  write_file_atomic(dir + "/metrics.jsonl", "{\"epoch\": 1, \"val_mse\": 0.25}\n");
  EXPECT_EQ(load_run(dir, RunParts::kBrief).metrics.at(0)["val_mse"], 0.25);
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
