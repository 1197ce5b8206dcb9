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
  EXPECT_EQ(rows[0].size(), 10u);  // row class + run, status, seed, 4 metrics, hash, verification
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
