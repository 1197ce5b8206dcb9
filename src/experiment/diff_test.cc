#include <gtest/gtest.h>

#include "fixtures.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"

namespace mltrain {
namespace {

using json = nlohmann::json;
using fixtures::completed_run;
using fixtures::FakeRun;
using fixtures::temp_dir;
using fixtures::write_run;

TEST(TraceDivergence, IdenticalTracesDoNotDiverge) {
  FakeRun a = completed_run(6, "x");
  TraceDivergence d = first_trace_divergence(a.trace, a.trace);
  EXPECT_EQ(d.step, -1);
}

TEST(TraceDivergence, NamesTheFirstDifferingStepAndField) {
  FakeRun a = completed_run(6, "x");
  FakeRun b = a;
  b.trace[3]["loss"] = "3f000000";  // step 4
  b.trace[4]["lr"] = 0.5;           // a later difference does not matter
  TraceDivergence d = first_trace_divergence(a.trace, b.trace);
  EXPECT_EQ(d.step, 4);
  EXPECT_EQ(d.field, "loss");
  EXPECT_EQ(d.b, "3f000000");
  EXPECT_EQ(d.last_equal_state, 2);  // states are recorded on even steps
}

TEST(TraceDivergence, StateHashesAreComparedOnlyWhereBothHaveOne) {
  FakeRun a = completed_run(6, "x");
  FakeRun b = a;
  for (auto& line : b.trace) line.erase("state");  // another trace_every
  EXPECT_EQ(first_trace_divergence(a.trace, b.trace).step, -1);
  b = a;
  b.trace[5]["state"] = "0000000000000000";
  TraceDivergence d = first_trace_divergence(a.trace, b.trace);
  EXPECT_EQ(d.step, 6);
  EXPECT_EQ(d.field, "state");
  EXPECT_EQ(d.last_equal_state, 4);
}

TEST(TraceDivergence, AShorterTraceDivergesWhereItEnds) {
  FakeRun a = completed_run(6, "x");
  FakeRun b = a;
  b.trace.resize(4);
  TraceDivergence d = first_trace_divergence(a.trace, b.trace);
  EXPECT_EQ(d.step, 5);
  EXPECT_EQ(d.field, "length");
}

TEST(JsonDiff, ListsDifferingLeavesByDottedKey) {
  json a = {{"seed", 1}, {"training", {{"lr", 0.01}, {"epochs", 2}}}};
  json b = {{"seed", 1}, {"training", {{"lr", 0.02}, {"epochs", 2}}}, {"extra", true}};
  json d = json_diff(a, b);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0]["key"], "extra");
  EXPECT_TRUE(d[0]["a"].is_null());
  EXPECT_EQ(d[1]["key"], "training.lr");
  EXPECT_EQ(d[1]["a"], 0.01);
  EXPECT_EQ(d[1]["b"], 0.02);
}

TEST(CompareResults, IgnoresWallClockFieldsOnly) {
  const std::string dir = temp_dir();
  FakeRun a = completed_run(4, "x");
  FakeRun b = a;
  b.config["seed"] = 2;  // another directory; results still identical
  b.metrics[0]["seconds"] = 99.0;
  b.metrics[0]["eval_seconds"] = 3.0;
  RunRecord ra = load_run(write_run(dir, a));
  RunRecord rb = load_run(write_run(dir, b));
  EXPECT_EQ(compare_results(ra, rb), "");
  b.metrics[0]["val_acc"] = 0.5;
  b.summary["state_sha256"] = std::string(64, 'f');
  rb = load_run(write_run(dir, b, "changed"));
  EXPECT_EQ(compare_results(ra, rb), "metrics, state hash");
}

TEST(DiffRuns, NamesConfigDataTraceAndHashDifferences) {
  const std::string dir = temp_dir();
  FakeRun a = completed_run(4, "x");
  a.config["training"] = {{"lr", 0.01}};
  a.data = {
      {"files",
       {{{"split", "train"}, {"path", "t.jsonl"}, {"sha256", std::string(64, 'a')}, {"rows", 3}}}}};
  FakeRun b = completed_run(4, "y");
  b.config["training"] = {{"lr", 0.02}};
  b.data = {
      {"files",
       {{{"split", "train"}, {"path", "u.jsonl"}, {"sha256", std::string(64, 'b')}, {"rows", 3}}}}};
  json d = diff_runs(load_run(write_run(dir, a)), load_run(write_run(dir, b)));
  ASSERT_EQ(d["config"].size(), 1u);
  EXPECT_EQ(d["config"][0]["key"], "training.lr");
  ASSERT_EQ(d["data"].size(), 1u);
  EXPECT_EQ(d["data"][0]["split"], "train");
  EXPECT_EQ(d["trace"]["first_diverging_step"], 1);
  EXPECT_FALSE(d["state_hash_match"].get<bool>());
  EXPECT_FALSE(d["identical"].get<bool>());
  const std::string text = format_diff(d);
  EXPECT_NE(text.find("training.lr: 0.01 -> 0.02"), std::string::npos) << text;
  EXPECT_NE(text.find("trace: first diverging step 1 (loss:"), std::string::npos) << text;
  EXPECT_NE(text.find("-> DIFFER"), std::string::npos) << text;
}

TEST(DiffRuns, ComparesWhateverMetricsTheRunsRecorded) {
  const std::string dir = temp_dir();
  FakeRun a = completed_run(2, "x");
  a.metrics = {{{"epoch", 1}, {"accuracy", 0.5}, {"seconds", 1.0}, {"lr", 0.1}}};
  FakeRun b = a;
  b.metrics[0]["accuracy"] = 0.75;
  b.metrics[0]["seconds"] = 2.0;
  json d = diff_runs(load_run(write_run(dir, a, "a")), load_run(write_run(dir, b, "b")));
  ASSERT_EQ(d["metrics"].size(), 1u);
  EXPECT_EQ(d["metrics"][0]["accuracy"], json({0.5, 0.75}));
  EXPECT_FALSE(d["metrics"][0].contains("seconds"));
  EXPECT_FALSE(d["metrics_identical"].get<bool>());
  EXPECT_NE(format_diff(d).find("*     1  0.5000 | 0.7500"), std::string::npos) << format_diff(d);
}

TEST(DiffRuns, ARunAgainstItselfIsIdentical) {
  const std::string dir = temp_dir();
  RunRecord r = load_run(write_run(dir, completed_run(4, "x")));
  json d = diff_runs(r, r);
  EXPECT_TRUE(d["identical"].get<bool>());
  EXPECT_NE(format_diff(d).find("-> match"), std::string::npos);
}

TEST(DiffRuns, ToleratesRunsWithoutOptionalRecords) {
  const std::string dir = temp_dir();
  FakeRun a;  // a run that never got past its config
  a.run = nullptr;
  a.env = nullptr;
  FakeRun b = completed_run(2, "x");
  json d = diff_runs(load_run(write_run(dir, a, "a")), load_run(write_run(dir, b, "b")));
  EXPECT_FALSE(d["identical"].get<bool>());
  EXPECT_EQ(d["trace"]["field"], "length");
  format_diff(d);  // renders without throwing
}

}  // namespace
}  // namespace mltrain
