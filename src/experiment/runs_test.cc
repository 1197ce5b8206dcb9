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
                            {"seed", 1},
                            {"config", {{"seed", 1}, {"lr", 0.1}}},
                            {"metrics", {{"val_acc", 0.875}}},
                            {"state_hash", "0123"},
                            {"verification", "verified 3\u00d7, resume-checked"},
                            {"dir", "runs/a \"b\""}},
                           {{"run_id", "bbbb2222"},
                            {"status", "failed"},
                            {"config", {{"seed", 2}, {"lr", 0.2}}},
                            {"metrics", {{"val_mse", 0.5}}}}});
  const std::string csv = format_runs_csv(rows);
  // The identity keys that differ, then every metric any row recorded.
  const std::string header =
      "run_id,status,seed,deterministic,lr,val_acc,val_mse,steps,state_hash,verification,dir\n";
  ASSERT_EQ(csv.substr(0, header.size()), header);
  EXPECT_NE(csv.find("aaaa1111,completed,1,,0.1,0.875,,,0123,\"verified 3\u00d7, "
                     "resume-checked\",\"runs/a \"\"b\"\"\"\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\nbbbb2222,failed,,,0.2,,0.5,,,,\n"), std::string::npos) << csv;
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
  for (std::size_t i = 1; i < 5; ++i) {
    EXPECT_LE(by_loss[i - 1]["val_loss"].get<double>(), by_loss[i]["val_loss"].get<double>());
  }
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
  EXPECT_NE(error_of({}, "speed", dir).find("--sort speed: no run records the metric 'speed'"),
            std::string::npos);
  EXPECT_NE(error_of({}, "val_acx", dir).find("(did you mean 'val_acc'?); metrics recorded: "),
            std::string::npos);
  EXPECT_NE(error_of({}, "val_acc:up", dir).find("expected METRIC, METRIC:asc or METRIC:desc"),
            std::string::npos);
  EXPECT_NE(error_of({}, "", dir + "/missing").find("no such output directory"), std::string::npos);
}

// An output directory of runs that are not classifiers: regressions that
// record val_mse (flat, as a user loop would), one with a nested summary, one
// that declares its own direction, one without the metric, and a run of the
// built-in classifier.
struct Mixed {
  std::string dir;
  std::vector<std::string> ids;  // the regressions, val_mse 0.3, 0.1, 0.2
};

Mixed mixed_output_dir() {
  Mixed m;
  m.dir = fixtures::temp_dir();
  int k = 0;
  for (double mse : {0.3, 0.1, 0.2}) {
    FakeRun r = completed_run(4, "reg" + std::to_string(k));
    r.config = {{"seed", ++k}, {"hidden", 32}, {"task", "regression"}};
    r.summary.erase("val");
    r.summary.erase("test");
    r.summary["val_mse"] = mse;
    r.summary["val_r2"] = 1 - mse;
    r.metrics = {{{"epoch", 1}, {"train_loss", mse * 2}, {"val_mse", mse}}};
    const std::string d = write_run(m.dir, r);
    m.ids.push_back(d.substr(d.size() - 8));
  }
  FakeRun nested = completed_run(4, "nested");
  nested.config = {{"seed", 7}, {"hidden", 64}, {"task", "regression"}};
  nested.summary["val"] = {{"mse", 0.05}, {"n", 64}};
  nested.summary.erase("test");
  nested.metrics.clear();
  write_run(m.dir, nested);
  FakeRun declared = completed_run(4, "declared");
  declared.config = {{"seed", 8}, {"task", "ranking"}};
  declared.summary = {{"state_sha256", std::string(64, '8')},
                      {"score", 3.0},
                      {"metric_directions", {{"score", "lower"}}}};
  declared.metrics.clear();
  write_run(m.dir, declared);
  FakeRun other = completed_run(4, "other");
  other.config = {{"seed", 9}, {"task", "ranking"}};
  other.summary = {{"state_sha256", std::string(64, '9')}, {"score", 1.0}};
  other.metrics.clear();
  write_run(m.dir, other);
  FakeRun classifier = completed_run(4, "clf", 0.95);
  write_run(m.dir, classifier);
  return m;
}

std::vector<double> column(const json& rows, const std::string& metric) {
  std::vector<double> out;
  for (const auto& r : rows) {
    if (r["metrics"].contains(metric)) out.push_back(r["metrics"][metric].get<double>());
  }
  return out;
}

TEST(ListRuns, MetricsAreWhatEachRunRecorded) {
  const Mixed m = mixed_output_dir();
  const json rows = list_runs(m.dir, {}, "");
  ASSERT_EQ(rows.size(), 7u);
  for (const auto& r : rows) {
    if (r["config"].value("task", "") != "regression") continue;
    EXPECT_TRUE(r["metrics"]["val_mse"].is_number()) << r.dump();
    EXPECT_EQ(r["val_mse"], r["metrics"]["val_mse"]);          // also at the top level
    EXPECT_FALSE(r["metrics"].contains("val_n")) << r.dump();  // a count, not a metric
    EXPECT_FALSE(r["metrics"].contains("state_hash"));
    EXPECT_FALSE(r["metrics"].contains("steps"));
    EXPECT_EQ(r["steps"], 4);
  }
  const std::string text = format_runs(rows);
  std::string header = text.substr(0, text.find('\n'));
  // Validation metrics first, then the unsplit ones, test, train; the
  // identity keys that differ (hidden, model.arch, task) as columns.
  EXPECT_NE(header.find("val_acc  val_f1  val_loss  val_mse  val_r2  score"), std::string::npos)
      << text;
  EXPECT_NE(header.find("hidden"), std::string::npos) << text;
  EXPECT_NE(header.find("verification"), std::string::npos) << text;
  EXPECT_NE(text.find("4 more metrics not shown (test_acc, test_f1, test_loss, train_loss): "
                      "--metrics"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\n7 runs\n"), std::string::npos);
  // --metrics chooses the columns (and their order).
  const std::string chosen = format_runs(rows, {"train_loss", "val_mse"});
  EXPECT_NE(chosen.find("train_loss  val_mse  val_acc  val_f1  val_loss  val_r2"),
            std::string::npos)
      << chosen;
  try {
    format_runs(rows, {"val_mes"});
    FAIL() << "an unknown --metrics name";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'val_mse'?"), std::string::npos);
  }
  const std::string csv = format_runs_csv(rows);
  EXPECT_NE(csv.find(",val_acc,val_f1,val_loss,val_mse,val_r2,score,test_acc,test_f1,test_loss,"
                     "train_loss,steps,"),
            std::string::npos)
      << csv;
}

TEST(FormatRuns, ALongConfigValueKeepsItsEnd) {
  json rows = json::array();
  for (const char* path :
       {"/data/corpora/2024/shard-0001/train.jsonl", "/data/corpora/2024/shard-0002/train.jsonl"}) {
    rows.push_back({{"run_id", "x"}, {"config", {{"data", {{"train_path", path}}}}}});
  }
  const std::string text = format_runs(rows);
  EXPECT_NE(text.find("...hard-0002/train.jsonl"), std::string::npos) << text;  // 24 characters
  EXPECT_EQ(text.find("/data/corpora"), std::string::npos) << text;
}

TEST(ListRuns, SortsALowerIsBetterMetricAscending) {
  const Mixed m = mixed_output_dir();
  json rows = list_runs(m.dir, {}, "val_mse");
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(column(rows, "val_mse"), std::vector<double>({0.05, 0.1, 0.2, 0.3}));
  EXPECT_EQ(rows[1]["run_id"], m.ids[1]);
  for (std::size_t i = 4; i < rows.size(); ++i)
    EXPECT_FALSE(rows[i]["metrics"].contains("val_mse"));
  // The direction can be chosen; higher-is-better metrics sort descending.
  rows = list_runs(m.dir, {}, "val_mse:desc");
  EXPECT_EQ(column(rows, "val_mse"), std::vector<double>({0.3, 0.2, 0.1, 0.05}));
  rows = list_runs(m.dir, {}, "val_r2");
  EXPECT_EQ(column(rows, "val_r2"), std::vector<double>({1 - 0.1, 1 - 0.2, 1 - 0.3}));
  rows = list_runs(m.dir, {}, "val_r2:asc");
  EXPECT_EQ(column(rows, "val_r2"), std::vector<double>({1 - 0.3, 1 - 0.2, 1 - 0.1}));
}

TEST(ListRuns, ADirectionARunDeclaresWinsOverTheName) {
  const Mixed m = mixed_output_dir();
  // "score" reads as higher-is-better, but a run declares it lower.
  EXPECT_EQ(column(list_runs(m.dir, {}, "score"), "score"), std::vector<double>({1.0, 3.0}));
  EXPECT_EQ(column(list_runs(m.dir, {}, "score:desc"), "score"), std::vector<double>({3.0, 1.0}));
}

TEST(ListRuns, WhereThresholdsOnMetrics) {
  const Mixed m = mixed_output_dir();
  EXPECT_EQ(column(list_runs(m.dir, {"val_mse<0.2"}, "val_mse"), "val_mse"),
            std::vector<double>({0.05, 0.1}));
  EXPECT_EQ(column(list_runs(m.dir, {"val_mse<=0.2"}, "val_mse"), "val_mse"),
            std::vector<double>({0.05, 0.1, 0.2}));
  EXPECT_EQ(column(list_runs(m.dir, {"val_mse>0.1", "hidden=32"}, "val_mse"), "val_mse"),
            std::vector<double>({0.2, 0.3}));
  EXPECT_EQ(list_runs(m.dir, {"val_acc>=0.9"}, "").size(), 1u);  // the classifier
  EXPECT_EQ(list_runs(m.dir, {"val_acc>=0.96"}, "").size(), 0u);
  EXPECT_EQ(list_runs(m.dir, {"val_mse=0.1"}, "").size(), 1u);  // not a config key: the metric
  EXPECT_EQ(list_runs(m.dir, {"task!=regression"}, "").size(), 3u);
  EXPECT_EQ(list_runs(m.dir, {"hidden>40"}, "").size(), 1u);  // a number in the identity
  EXPECT_NE(error_of({"val_mes<0.1"}, "", m.dir)
                .find("--where 'val_mes<0.1': no run records the metric 'val_mes' (did you mean "
                      "'val_mse'?)"),
            std::string::npos);
  EXPECT_NE(error_of({"val_mse<abc"}, "", m.dir).find("expected a number after '<'"),
            std::string::npos);
  EXPECT_NE(error_of({"val_mse=high"}, "", m.dir).find("val_mse is a metric; expected a number"),
            std::string::npos);
  EXPECT_NE(error_of({"val_mse!0.1"}, "", m.dir).find("expected !="), std::string::npos);
  EXPECT_NE(error_of({"<0.1"}, "", m.dir).find("expected KEY=VALUE"), std::string::npos);
  EXPECT_NE(error_of({"throughput=3"}, "", m.dir)
                .find("no run has the config key or metric 'throughput'"),
            std::string::npos);
}

}  // namespace
}  // namespace mltrain
