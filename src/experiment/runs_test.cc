#include <gtest/gtest.h>

#include "fixtures.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"

namespace mltrain {
namespace {

using json = nlohmann::json;
using fixtures::completed_run;
using fixtures::FakeRun;
using fixtures::write_run;

// Four runs: lr 0.01 / 0.02 x seeds, one unfinished, one of a custom loop.
std::string output_dir() {
  const std::string dir = fixtures::temp_dir();
  for (int seed : {1, 2}) {
    for (double lr : {0.01, 0.02}) {
      FakeRun r =
          completed_run(4, std::to_string(seed) + std::to_string(lr), 0.8 + lr + seed / 100.0);
      r.config["seed"] = seed;
      r.config["training"] = {{"lr", lr}};
      write_run(dir, r);
    }
  }
  FakeRun unfinished;
  unfinished.config["seed"] = 3;
  unfinished.config["training"] = {{"lr", 0.01}};
  unfinished.run = {{"status", "interrupted"}};
  write_run(dir, unfinished);
  FakeRun custom = completed_run(2, "custom", 0.5);
  custom.config = {{"seed", 9}, {"hidden", 32}};
  write_run(dir, custom);
  return dir;
}

TEST(ListRuns, ListsEveryRunDirectorySortedById) {
  const std::string dir = output_dir();
  json rows = list_runs(dir, {}, "");
  ASSERT_EQ(rows.size(), 6u);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_LT(rows[i - 1]["run_id"].get<std::string>(), rows[i]["run_id"].get<std::string>());
  }
  EXPECT_NE(format_runs(rows).find("6 runs"), std::string::npos);
}

TEST(FormatRunsCsv, AHeaderAndOneQuotedLinePerRun) {
  json rows = json::array({{{"run_id", "aaaa1111"},
                            {"status", "completed"},
                            {"arch", "bow"},
                            {"seed", 1},
                            {"val_acc", 0.875},
                            {"state_hash", "0123"},
                            {"verification", "verified 3\u00d7, resume-checked"},
                            {"dir", "runs/a \"b\""}},
                           {{"run_id", "bbbb2222"}, {"status", "failed"}}});
  const std::string csv = format_runs_csv(rows);
  const std::string header =
      "run_id,status,arch,seed,deterministic,val_acc,val_f1,val_loss,test_acc,test_f1,steps,"
      "state_hash,verification,dir\n";
  ASSERT_EQ(csv.substr(0, header.size()), header);
  EXPECT_NE(csv.find("aaaa1111,completed,bow,1,,0.875,,,,,,0123,\"verified 3\u00d7, "
                     "resume-checked\",\"runs/a \"\"b\"\"\"\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\nbbbb2222,failed,,,,,,,,,,,,\n"), std::string::npos) << csv;
}

TEST(ListRuns, FiltersNumbersAsNumbers) {
  const std::string dir = output_dir();
  json rows = list_runs(dir, {"training.lr=1e-2"}, "");
  EXPECT_EQ(rows.size(), 3u);  // seeds 1, 2 and the unfinished 3
  rows = list_runs(dir, {"training.lr=0.010", "seed=2"}, "");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["seed"], 2);
  EXPECT_EQ(list_runs(dir, {"model.arch=cnn"}, "").size(), 0u);
  EXPECT_EQ(list_runs(dir, {"hidden=32"}, "").size(), 1u);  // a custom identity's key
}

TEST(ListRuns, SortsBestFirstWithMissingMetricsLast) {
  const std::string dir = output_dir();
  json rows = list_runs(dir, {}, "val_acc");
  ASSERT_EQ(rows.size(), 6u);
  for (std::size_t i = 1; i < 5; ++i) {
    EXPECT_GE(rows[i - 1]["val_acc"].get<double>(), rows[i]["val_acc"].get<double>());
  }
  EXPECT_TRUE(rows[5]["val_acc"].is_null());
  EXPECT_EQ(rows[5]["status"], "interrupted");
  json by_loss = list_runs(dir, {}, "val_loss");  // lower is better
  EXPECT_TRUE(by_loss[5]["val_loss"].is_null());
}

std::string error_of(const std::vector<std::string>& where, const std::string& sort,
                     const std::string& dir) {
  try {
    list_runs(dir, where, sort);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ListRuns, RejectsBadArguments) {
  const std::string dir = output_dir();
  EXPECT_NE(error_of({"model.arc=bow"}, "", dir).find("did you mean 'model.arch'"),
            std::string::npos);
  EXPECT_NE(error_of({"runtime.num_workers=2"}, "", dir).find("not part of a run's identity"),
            std::string::npos);
  EXPECT_NE(error_of({"lr"}, "", dir).find("expected KEY=VALUE"), std::string::npos);
  EXPECT_NE(error_of({}, "speed", dir).find("expected one of"), std::string::npos);
  EXPECT_NE(error_of({}, "", dir + "/missing").find("no such output directory"), std::string::npos);
}

}  // namespace
}  // namespace mltrain
