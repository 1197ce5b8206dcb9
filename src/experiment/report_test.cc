#include <gtest/gtest.h>

#include "core/fs.h"
#include "fixtures.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/records.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::size_t count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t p = s.find(part); p != std::string::npos; p = s.find(part, p + 1)) ++n;
  return n;
}

TEST(HtmlEscape, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(html_escape("plain ü"), "plain ü");
}

TEST(RenderReport, EscapesStringsFromTheRecords) {
  const std::string dir = fixtures::temp_dir();
  fixtures::FakeRun r = fixtures::completed_run(4, "x");
  r.config["data"] = {{"train_path", "<script>alert(1)</script>"}};
  r.run["attempts"] = {{{"command", {"ml-train", "<marquee>"}}, {"status", "completed"}}};
  r.data = {{"files",
             {{{"split", "train"}, {"path", "\"><img src=x>"}, {"sha256", std::string(64, 'a')}}}}};
  const std::string html = render_report(fixtures::write_run(dir, r));
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<marquee>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);  // the val_acc curve
  EXPECT_NE(html.find(r.summary["state_sha256"].get<std::string>()), std::string::npos);
}

TEST(RenderReport, ARunOfACustomLoopRenders) {
  const std::string dir = fixtures::temp_dir();
  fixtures::FakeRun r = fixtures::completed_run(4, "x");
  r.config = {{"seed", 3}, {"hidden", 8}};  // no model.arch, no data
  r.summary.erase("val");
  r.summary.erase("test");
  r.summary["accuracy"] = 0.75;
  r.metrics = {{{"epoch", 1}, {"train_loss", 0.5}, {"accuracy", 0.7}},
               {{"epoch", 2}, {"train_loss", 0.4}, {"accuracy", 0.75}}};
  const std::string html = render_report(fixtures::write_run(dir, r));
  EXPECT_NE(html.find("accuracy"), std::string::npos);
  EXPECT_NE(html.find("its own program"), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 4u);  // loss per step, loss per epoch, metrics, lr
}

TEST(RenderReport, SweepDirectory) {
  const std::string dir = fixtures::temp_dir();
  json runs = json::array({{{"overrides", {"seed=1", "training.lr=<x>"}},
                            {"run_id", "aaaa1111"},
                            {"status", "completed"},
                            {"val_acc", 0.9}}});
  write_json_atomic(join_path(dir, "sweep.json"), {{"sweep_id", "s1"},
                                                   {"spec", {{"base", {{"seed", 1}}}}},
                                                   {"runs", runs},
                                                   {"groups", sweep_groups(runs)}});
  const std::string html = render_report(dir);
  EXPECT_NE(html.find("training.lr=&lt;x&gt;"), std::string::npos);
  EXPECT_NE(html.find("aaaa1111"), std::string::npos);
}

TEST(RenderReport, SweepCurvesHaveABandPerGroupAndErrorBarsPerValue) {
  const std::string out = fixtures::temp_dir();
  json runs = json::array();
  int k = 0;
  for (const char* lr : {"0.01", "0.02"}) {
    for (int seed = 1; seed <= 3; ++seed) {
      ++k;
      fixtures::FakeRun r = fixtures::completed_run(4, std::to_string(k), 0.8 + 0.01 * k);
      r.config["seed"] = seed;
      r.config["lr"] = lr;
      r.metrics = {{{"epoch", 1}, {"val_acc", 0.5 + 0.01 * k}, {"val_loss", 0.9}},
                   {{"epoch", 2}, {"val_acc", 0.7 + 0.01 * k}, {"val_loss", 0.5}}};
      const std::string dir = fixtures::write_run(out, r);
      runs.push_back({{"overrides", {"seed=" + std::to_string(seed), std::string("lr=") + lr}},
                      {"run_id", dir.substr(dir.size() - 8)},
                      {"dir", dir},
                      {"status", k == 6 ? "failed" : "completed"},
                      {"val_acc", k == 6 ? json() : json(0.8 + 0.01 * k)}});
    }
  }
  const std::string sweep = join_path(out, "sweep");
  make_dirs(sweep);
  write_json_atomic(join_path(sweep, "sweep.json"), {{"sweep_id", "s2"},
                                                     {"spec", {{"base", {{"seed", 1}}}}},
                                                     {"runs", runs},
                                                     {"groups", sweep_groups(runs)}});
  const std::string html = render_report(sweep);
  // val_acc and val_loss per epoch: two groups each, a band each.
  EXPECT_EQ(count(html, "class='band'"), 4u);
  EXPECT_EQ(count(html, "class='errbar'"), 2u);  // final val_acc against lr: one per lr value
  EXPECT_NE(html.find("table class='sortable'"), std::string::npos);
  EXPECT_NE(html.find("<tr class='bad'>"), std::string::npos);  // the failed run, its group
  EXPECT_NE(html.find("2 / 3"), std::string::npos);
  EXPECT_NE(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
}

TEST(RenderComparison, HighlightsWhatDiffersAndMarksTheDivergence) {
  const std::string dir = fixtures::temp_dir();
  fixtures::FakeRun a = fixtures::completed_run(6, "a");
  a.config["training"] = {{"lr", 0.01}, {"epochs", 2}};
  fixtures::FakeRun b = a;
  b.config["training"]["lr"] = 0.02;
  b.trace[3]["loss"] = "3f000000";  // step 4 differs
  b.summary["state_sha256"] = std::string(64, 'b');
  const std::string html =
      render_comparison({fixtures::write_run(dir, a), fixtures::write_run(dir, b)});
  EXPECT_NE(html.find("<td>training.lr</td><td>0.01</td><td class='diff'>0.02</td>"),
            std::string::npos);
  EXPECT_EQ(html.find("<td>training.epochs</td>"), std::string::npos);  // only what differs
  EXPECT_EQ(count(html, "class='marker'"), 1u);
  EXPECT_NE(html.find("B differs at 4"), std::string::npos);
  EXPECT_NE(html.find("config key training.lr differs"), std::string::npos);
  EXPECT_NE(html.find("never verified"), std::string::npos);
  try {
    render_comparison({fixtures::write_run(dir, a)});
    FAIL() << "one run compared";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
  }
}

TEST(RenderIndex, OneRowPerRunVaryingKeysAsColumnsAndVerification) {
  const std::string out = fixtures::temp_dir();
  std::vector<std::string> dirs;
  for (int seed = 1; seed <= 3; ++seed) {
    fixtures::FakeRun r = fixtures::completed_run(4, std::to_string(seed));
    r.config["seed"] = seed;
    dirs.push_back(fixtures::write_run(out, r));
  }
  record_verification(dirs[0], "verify-1",
                      {{"when", "2026-01-01T00:00:00Z"},
                       {"identical", true},
                       {"runs", 3},
                       {"resume_checked", true},
                       {"reference_state_sha256", load_run(dirs[0]).state_sha256()}});
  const std::string page = render_report(out);
  const std::string html = page.substr(0, page.find("<script type='application/json' id='rows'>"));
  ASSERT_LT(html.size(), page.size());
  EXPECT_EQ(count(html, "<tr>") + count(html, "<tr class="), 4u);  // header + 3 runs
  EXPECT_NE(html.find("<th>seed</th>"), std::string::npos);
  EXPECT_EQ(html.find("<th>model.arch</th>"), std::string::npos);  // the same everywhere
  EXPECT_NE(html.find("verified 3\u00d7, resume-checked"), std::string::npos);
  EXPECT_EQ(count(html, "never verified"), 2u);
  EXPECT_NE(html.find("id='filter'"), std::string::npos);
  EXPECT_NE(html.find("<table class='index'>"), std::string::npos);
  // Every row is also in the JSON block the page's script sorts and pages.
  const json rows = json::parse(
      page.substr(html.size() + 42, page.find("</script>", html.size()) - html.size() - 42));
  ASSERT_EQ(rows.size(), 3u);
  // row class + run, status, seed, the 6 metrics the runs recorded (val and
  // test acc, f1, loss), steps, hash, verification
  EXPECT_EQ(rows[0].size(), 13u);
  EXPECT_NE(html.find("<th title='higher is better (from the name)'>val_acc</th><th title='higher "
                      "is better (from the name)'>val_f1</th><th title='lower is better (from the "
                      "name)'>val_loss</th><th title='higher is better (from the name)'>test_acc"),
            std::string::npos)
      << html;
}

// Runs of a regression loop and of the classifier in one output directory.
std::string user_metric_output_dir() {
  const std::string out = fixtures::temp_dir();
  int k = 0;
  for (double mse : {0.25, 0.125}) {
    fixtures::FakeRun r = fixtures::completed_run(4, "reg" + std::to_string(k));
    r.config = {{"seed", ++k}, {"hidden", 16}};
    r.summary.erase("val");
    r.summary.erase("test");
    r.summary["val_mse"] = mse;
    r.metrics = {{{"epoch", 1}, {"train_loss", 4 * mse}, {"val_mse", 2 * mse}},
                 {{"epoch", 2}, {"train_loss", 3 * mse}, {"val_mse", mse}}};
    fixtures::write_run(out, r);
  }
  fixtures::write_run(out, fixtures::completed_run(4, "clf"));
  return out;
}

TEST(RenderIndex, AUserMetricIsAColumnLikeAnyOther) {
  const std::string out = user_metric_output_dir();
  const std::string page = render_report(out);
  EXPECT_NE(page.find("<th title='lower is better (from the name)'>val_mse</th>"),
            std::string::npos);
  EXPECT_NE(page.find("<th title='lower is better (from the name)'>train_loss</th>"),
            std::string::npos);
  const std::string head = "<script type='application/json' id='rows'>";
  const std::size_t at = page.find(head) + head.size();
  const json rows = json::parse(page.substr(at, page.find("</script>", at) - at));
  ASSERT_EQ(rows.size(), 3u);
  int with_mse = 0;
  for (const auto& r : rows) {
    for (const auto& c : r) {
      if (c.is_array() && c[0] == "0.1250") {
        EXPECT_EQ(c[1], 0.125);  // the sort key
        ++with_mse;
      }
    }
  }
  EXPECT_EQ(with_mse, 1) << rows.dump();
}

TEST(RenderReport, ARunsResultIsWhatItRecordedWithDirections) {
  const std::string out = user_metric_output_dir();
  const RunRecord r = load_run(fixtures::write_run(out, [] {
    fixtures::FakeRun f = fixtures::completed_run(4, "one");
    f.config = {{"seed", 5}};
    f.summary = {{"state_sha256", std::string(64, 'c')},
                 {"val", {{"mse", 0.000123}, {"n", 10}}},
                 {"wall_seconds", 3}};
    f.metrics = {{{"epoch", 1}, {"val_mse", 0.5}}};
    return f;
  }()));
  const std::string html = render_report(r.dir);
  EXPECT_NE(html.find("<td>val_mse</td><td class='num' data-v='0.000123'>0.0001230</td><td>lower "
                      "is better (from the name)</td>"),
            std::string::npos)
      << html;
  EXPECT_EQ(html.find("<td>val_n</td>"), std::string::npos);
  EXPECT_EQ(html.find("<td>wall_seconds</td>"), std::string::npos);
  EXPECT_NE(html.find("aria-label='Losses and errors per epoch (lower is better)"),
            std::string::npos);
}

TEST(RenderComparison, ColumnsAndCurvesAreTheRunsMetrics) {
  const std::string out = user_metric_output_dir();
  std::vector<std::string> dirs;
  for (const auto& name : list_dir(out)) dirs.push_back(join_path(out, name));
  const std::string html = render_comparison(dirs);
  EXPECT_NE(html.find(">val_mse</th>"), std::string::npos);
  EXPECT_NE(html.find(">val_acc</th>"), std::string::npos);
  EXPECT_NE(html.find("aria-label='val_mse per epoch"), std::string::npos);
  EXPECT_NE(html.find("aria-label='train_loss per epoch"), std::string::npos);
  EXPECT_NE(html.find(">0.1250</td>"), std::string::npos);
}

TEST(RenderReport, ASweepOfAUserMetric) {
  const std::string out = fixtures::temp_dir();
  json runs = json::array();
  int k = 0;
  for (const char* width : {"16", "32"}) {
    for (int seed = 1; seed <= 2; ++seed) {
      ++k;
      fixtures::FakeRun r = fixtures::completed_run(4, "s" + std::to_string(k));
      r.config = {{"seed", seed}, {"width", width}};
      r.summary = {{"state_sha256", std::string(64, 'a' + k)}, {"val_mse", 0.1 * k}};
      r.metrics = {{{"epoch", 1}, {"val_mse", 0.2 * k}}, {{"epoch", 2}, {"val_mse", 0.1 * k}}};
      const std::string dir = fixtures::write_run(out, r);
      json row = {{"overrides", {"seed=" + std::to_string(seed), std::string("width=") + width}},
                  {"run_id", dir.substr(dir.size() - 8)},
                  {"dir", dir},
                  {"status", "completed"},
                  {"metrics", {{"val_mse", 0.1 * k}}}};
      runs.push_back(row);
    }
  }
  const std::string sweep = join_path(out, "sweeps/s3");
  make_dirs(sweep);
  write_json_atomic(join_path(sweep, "sweep.json"), {{"sweep_id", "s3"},
                                                     {"spec", {{"base", {{"seed", 1}}}}},
                                                     {"runs", runs},
                                                     {"groups", sweep_groups(runs)}});
  const std::string html = render_report(sweep);
  EXPECT_NE(html.find("aria-label='val_mse per epoch (mean \u00b1 std over seeds)"),
            std::string::npos);
  EXPECT_NE(html.find("aria-label='final val_mse against width (mean \u00b1 std)"),
            std::string::npos);
  EXPECT_EQ(count(html, "class='band'"), 2u);
  EXPECT_NE(html.find(">val_mse mean \u00b1 std</th>"), std::string::npos);
  EXPECT_NE(html.find("0.1500 \u00b1 0.0707"), std::string::npos);  // width=16: 0.1, 0.2
  // The index names the best group by the sweep's metric, lower first.
  const std::string index = render_report(out);
  EXPECT_NE(index.find("val_mse width=16: 0.1500 \u00b1 0.0707"), std::string::npos) << index;
}

TEST(RenderReport, NeitherRunNorSweepIsAnError) {
  try {
    render_report(fixtures::temp_dir());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("neither a run directory"), std::string::npos);
  }
}

}  // namespace
}  // namespace mltrain
