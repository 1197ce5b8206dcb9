#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "core/fs.h"
#include "fixtures.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

json row(const std::vector<std::string>& overrides, const std::string& status, double acc) {
  return {{"overrides", overrides}, {"run_id", overrides.back()}, {"status", status},
          {"val_acc", acc},         {"val_f1", acc - 0.1},        {"test_acc", nullptr}};
}

TEST(SweepGroups, MeanAndSampleStdOverSeedsPerGroup) {
  json runs = json::array({row({"seed=1", "training.lr=0.1"}, "completed", 0.80),
                           row({"seed=2", "training.lr=0.1"}, "completed", 0.90),
                           row({"seed=3", "training.lr=0.1"}, "completed", 0.70),
                           row({"seed=1", "training.lr=0.2"}, "completed", 0.60),
                           row({"seed=2", "training.lr=0.2"}, "failed", 0.0)});
  json g = sweep_groups(runs);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0]["group"], "training.lr=0.1");
  EXPECT_EQ(g[0]["n"], 3);
  EXPECT_NEAR(g[0]["val_acc"]["mean"].get<double>(), 0.8, 1e-12);
  EXPECT_NEAR(g[0]["val_acc"]["std"].get<double>(), 0.1, 1e-12);  // sample std
  EXPECT_NEAR(g[0]["val_f1"]["mean"].get<double>(), 0.7, 1e-12);
  EXPECT_TRUE(g[0]["test_acc"].is_null());  // no test split
  // The failed run is listed but not counted.
  EXPECT_EQ(g[1]["group"], "training.lr=0.2");
  EXPECT_EQ(g[1]["runs"].size(), 2u);
  EXPECT_EQ(g[1]["n"], 1);
  EXPECT_EQ(g[1]["val_acc"]["std"].get<double>(), 0.0);
}

TEST(SweepGroups, OnlySeedsMakeOneGroup) {
  json runs = json::array({row({"seed=1"}, "completed", 0.5), row({"seed=2"}, "failed", 0)});
  json g = sweep_groups(runs);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0]["group"], "(all)");
  EXPECT_EQ(g[0]["n"], 1);
  json none = sweep_groups(json::array({row({"seed=1"}, "failed", 0)}));
  EXPECT_EQ(none[0]["n"], 0);
  EXPECT_TRUE(none[0]["val_acc"].is_null());
}

// A sweep row as sweep() writes it: the run's metrics under "metrics".
json user_row(const std::vector<std::string>& overrides, const std::string& status,
              const json& metrics) {
  return {{"overrides", overrides},
          {"run_id", overrides.back()},
          {"status", status},
          {"metrics", metrics},
          {"log", "x.log"}};
}

TEST(SweepGroups, AggregatesWhateverMetricsTheRunsRecorded) {
  json runs = json::array(
      {user_row({"seed=1", "width=16"}, "completed", {{"val_mse", 0.2}, {"val_r2", 0.8}}),
       user_row({"seed=2", "width=16"}, "completed", {{"val_mse", 0.4}}),
       user_row({"seed=1", "width=32"}, "completed", {{"val_mse", 0.1}, {"val_r2", 0.9}}),
       user_row({"seed=2", "width=32"}, "failed", json::object())});
  json g = sweep_groups(runs);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0]["group"], "width=16");
  EXPECT_EQ(g[0]["n"], 2);
  EXPECT_NEAR(g[0]["metrics"]["val_mse"]["mean"].get<double>(), 0.3, 1e-12);
  EXPECT_NEAR(g[0]["metrics"]["val_mse"]["std"].get<double>(), std::sqrt(0.02), 1e-12);
  EXPECT_EQ(g[0]["metrics"]["val_r2"]["n"], 1);  // one run of two recorded it
  EXPECT_EQ(g[0]["val_mse"], g[0]["metrics"]["val_mse"]);
  EXPECT_EQ(g[1]["n"], 1);
  EXPECT_EQ(g[1]["metrics"]["val_mse"]["std"].get<double>(), 0.0);
  EXPECT_FALSE(g[1]["metrics"].contains("val_acc"));

  const std::string text = format_sweep(runs, g);
  EXPECT_NE(text.find("val_mse 0.2000  val_r2 0.8000"), std::string::npos) << text;
  EXPECT_NE(text.find("FAILED (see x.log)"), std::string::npos) << text;
  EXPECT_NE(text.find("0.3000 +- 0.1414"), std::string::npos) << text;
  // Lower is better for an error, so the best group has the lowest mean.
  EXPECT_NE(text.find("best by val_mse (lower is better): width=32  0.1000 +- 0.0000"),
            std::string::npos)
      << text;
}

std::string sweep_error(const std::vector<std::string>& grid, const std::string& out) {
  Config cfg;
  cfg.runtime.output_dir = out;
  SweepOptions o;
  o.self_exe = "/bin/false";
  o.grid = grid;
  try {
    sweep(cfg, o);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    return e.what();
  }
  return "";
}

TEST(Sweep, ABadGridIsRejectedBeforeAnythingIsWritten) {
  const std::string out = fixtures::temp_dir() + "/runs";
  EXPECT_NE(sweep_error({"training.lrr=0.1,0.2"}, out).find("did you mean 'training.lr'"),
            std::string::npos);
  EXPECT_NE(sweep_error({"seed=1,"}, out).find("empty value"), std::string::npos);
  EXPECT_NE(sweep_error({"seed=1,,2"}, out).find("empty value"), std::string::npos);
  EXPECT_NE(sweep_error({"training.lr=0.1,abc"}, out).find("training.lr"), std::string::npos);
  EXPECT_NE(sweep_error({"runtime.threads=1,2"}, out).find("use verify --vary"), std::string::npos);
  EXPECT_NE(sweep_error({"seed=1", "seed=2"}, out).find("key given twice"), std::string::npos);
  EXPECT_NE(sweep_error({"training.lr=0.02,2e-2"}, out).find("are the same config"),
            std::string::npos);
  EXPECT_NE(sweep_error({}, out).find("at least one --grid"), std::string::npos);
  EXPECT_FALSE(path_exists(out));
}

TEST(FormatSweep, ColumnsWideEnoughForLongOverridesAndGroups) {
  json runs = json::array(
      {row({"training.epochs=10", "model.dropout=0.1", "training.token_dropout=0.2", "seed=1"},
           "completed", 0.9),
       row({"seed=2"}, "completed", 0.5)});
  runs[1]["overrides"] = json::array(
      {"training.epochs=10", "model.dropout=0.1", "training.token_dropout=0.2", "seed=2"});
  json groups = sweep_groups(runs);
  std::string text = format_sweep(runs, groups);
  // Every run line: the overrides, then at least two spaces, then the metric.
  EXPECT_NE(text.find("token_dropout=0.2 seed=1  "), std::string::npos) << text;
  EXPECT_EQ(text.find("seed=1val_acc"), std::string::npos) << text;
  // The group name and its count stay apart, and the numbers start in the
  // same column as the header's.
  std::istringstream in(text);
  std::string line, header, group;
  while (std::getline(in, line)) {
    if (line.rfind("group", 0) == 0) header = line;
    if (line.rfind("training.epochs=10", 0) == 0) group = line;
  }
  ASSERT_FALSE(header.empty()) << text;
  ASSERT_FALSE(group.empty()) << text;
  EXPECT_EQ(header.find(" n "), group.find(" 2 ")) << text;
  EXPECT_EQ(header.find("val_acc"), group.find("0.7000")) << text;
}

}  // namespace
}  // namespace mltrain
