#include "experiment/metrics.h"

#include <gtest/gtest.h>

#include "fixtures.h"
#include "mltrain/experiment.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

RunRecord record(const json& summary, const std::vector<json>& metrics = {}) {
  RunRecord r;
  r.summary = summary;
  r.metrics = metrics;
  return r;
}

TEST(RunMetrics, TheBuiltInTrainersNestedSummaryFlattensToItsColumns) {
  // What Run::finish writes for the built-in trainer.
  const json summary = {{"val", {{"loss", 0.2}, {"acc", 0.9}, {"f1", 0.85}, {"n", 40}}},
                        {"test", {{"loss", 0.3}, {"acc", 0.8}, {"f1", 0.75}, {"n", 40}}},
                        {"data_seconds", 0.1},
                        {"run_id", "0123abcd"},
                        {"state_hash", "0123456789abcdef"},
                        {"state_sha256", std::string(64, 'a')},
                        {"steps", 26},
                        {"epochs", 2},
                        {"train_seconds", 1.5},
                        {"wall_seconds", 2.5},
                        {"model_file", "model.pt"}};
  const std::vector<json> epochs = {
      {{"epoch", 1}, {"step", 13}, {"train_loss", 0.7}, {"val_acc", 0.5}, {"lr", 0.01}},
      {{"epoch", 2},
       {"step", 26},
       {"train_loss", 0.4},
       {"val_acc", 0.7},  // the summary's final value wins
       {"lr", 0.01},
       {"seconds", 1.0},
       {"eval_seconds", 0.1}}};
  EXPECT_EQ(run_metrics(record(summary, epochs)), json({{"test_acc", 0.8},
                                                        {"test_f1", 0.75},
                                                        {"test_loss", 0.3},
                                                        {"train_loss", 0.4},
                                                        {"val_acc", 0.9},
                                                        {"val_f1", 0.85},
                                                        {"val_loss", 0.2}}));
}

TEST(RunMetrics, AUserLoopsFlatSummaryAndItsLastEpoch) {
  EXPECT_EQ(run_metrics(record({{"val_mse", 0.04}, {"val_r2", 0.9}, {"steps", 48}})),
            json({{"val_mse", 0.04}, {"val_r2", 0.9}}));
  // finish({}) and metrics per epoch: the last epoch's.
  EXPECT_EQ(run_metrics(record(json::object(), {{{"epoch", 1}, {"val_mse", 0.5}},
                                                {{"epoch", 2}, {"val_mse", 0.25}}})),
            json({{"val_mse", 0.25}}));
  // A running run (no summary yet) shows where it is.
  EXPECT_EQ(run_metrics(record(nullptr, {{{"epoch", 1}, {"val_mse", 0.5}}})),
            json({{"val_mse", 0.5}}));
  // Strings, booleans, lists and counts are not metrics; deeper nesting joins.
  EXPECT_EQ(run_metrics(record({{"name", "x"},
                                {"ok", true},
                                {"curve", {1, 2}},
                                {"heads", {{"a", {{"mse", 1.5}, {"count", 3}}}}},
                                {"val_n", 64},
                                {"metric_directions", {{"heads_a_mse", "lower"}}}})),
            json({{"heads_a_mse", 1.5}}));
}

TEST(MetricDirection, InferredFromTheName) {
  for (const char* lower :
       {"val_loss", "train_loss", "val_mse", "test_rmse", "val_mae", "mean_abs_error", "val_err",
        "error_rate", "val_ppl", "perplexity", "test_wer", "nll", "logloss", "val_mape", "kl"}) {
    EXPECT_TRUE(lower_is_better_by_name(lower)) << lower;
  }
  for (const char* higher :
       {"val_acc", "val_f1", "test_acc", "accuracy", "val_r2", "auc", "bleu", "recall",
        "val_precision", "terminal_reward", "merit", "center_score"}) {
    EXPECT_FALSE(lower_is_better_by_name(higher)) << higher;
  }
}

TEST(MetricColumns, DisplayOrderAndDirectionsDeclaredOverriddenOrInferred) {
  MetricColumns c;
  c.add({{"train_loss", 1}, {"test_acc", 1}, {"val_mse", 1}, {"accuracy", 1}});
  c.add({{"val_acc", 1}, {"dev_bleu", 1}, {"score", 1}}, {{"score", "min"}, {"val_acc", "lower"}});
  c.add({{"score", 1}}, {{"score", "higher"}});  // the first declaration stands
  EXPECT_EQ(c.names(), std::vector<std::string>({"dev_bleu", "val_acc", "val_mse", "accuracy",
                                                 "score", "test_acc", "train_loss"}));
  EXPECT_TRUE(c.lower_is_better("score"));
  EXPECT_EQ(c.direction_text("score"), "lower is better (declared by the run)");
  EXPECT_TRUE(c.lower_is_better("val_acc"));
  EXPECT_TRUE(c.lower_is_better("val_mse"));
  EXPECT_EQ(c.direction_text("val_mse"), "lower is better (from the name)");
  EXPECT_FALSE(c.lower_is_better("accuracy"));
  c.set_direction("val_mse", false);
  EXPECT_FALSE(c.lower_is_better("val_mse"));
  EXPECT_EQ(c.direction_text("val_mse"), "higher is better (as asked)");
  EXPECT_TRUE(c.has("dev_bleu"));
  EXPECT_FALSE(c.has("bleu"));
}

TEST(MetricText, FourDecimalsOrFourSignificantDigits) {
  EXPECT_EQ(metric_text(0.87654), "0.8765");
  EXPECT_EQ(metric_text(12.5), "12.5000");
  EXPECT_EQ(metric_text(0.0), "0.0000");
  EXPECT_EQ(metric_text(0.000123456), "0.0001235");
  EXPECT_EQ(metric_text(-0.0123), "-0.01230");
  EXPECT_EQ(metric_text(2.5e7), "2.500e+07");
  EXPECT_EQ(metric_text(0.09), "0.09000");
  EXPECT_EQ(metric_text(json("x")), "-");
}

TEST(MetricText, MeanAndStdInTheMeansFormat) {
  EXPECT_EQ(metric_pm(0.9552, 0.0009), "0.9552 +- 0.0009");
  EXPECT_EQ(metric_pm(0.000123, 0.0000045, " \u00b1 "), "0.0001230 \u00b1 4.500e-06");
}

TEST(ClosestName, SuggestsOnlyWhatIsClose) {
  const std::vector<std::string> known = {"val_mse", "val_mae", "test_acc"};
  EXPECT_EQ(closest_name("val_mes", known), "val_mse");
  EXPECT_EQ(closest_name("tst_acc", known), "test_acc");
  EXPECT_EQ(closest_name("throughput", known), "");
}

TEST(PutMetrics, RowFieldsAreNeverOverwritten) {
  json row = {{"run_id", "abc"}, {"status", "completed"}};
  put_metrics({{"val_mse", 0.5}, {"status", 3}}, {{"val_mse", "lower"}}, &row);
  EXPECT_EQ(row["status"], "completed");
  EXPECT_EQ(row["metrics"]["status"], 3);
  EXPECT_EQ(row["val_mse"], 0.5);
  EXPECT_EQ(row["metric_directions"], json({{"val_mse", "lower"}}));
  EXPECT_EQ(row_metrics(row), json({{"val_mse", 0.5}, {"status", 3}}));
  // A sweep.json row from before rows carried "metrics".
  EXPECT_EQ(row_metrics({{"run_id", "x"}, {"exit_code", 0}, {"seed", 1}, {"val_acc", 0.9}}),
            json({{"val_acc", 0.9}}));
}

}  // namespace
}  // namespace mltrain
