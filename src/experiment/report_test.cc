#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/json_io.h"
#include "fixtures.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

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
  std::size_t svgs = 0;
  for (std::size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1))
    ++svgs;
  EXPECT_EQ(svgs, 2u);  // loss, metrics
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
