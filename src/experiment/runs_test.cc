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
