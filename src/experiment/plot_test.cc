#include "experiment/plot.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace mltrain {
namespace {

std::size_t count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t p = s.find(part); p != std::string::npos; p = s.find(part, p + 1)) ++n;
  return n;
}

TEST(NiceTicks, CoverTheRangeAtARoundStep) {
  const auto t = plot::nice_ticks(0.713, 0.902, 5);
  ASSERT_GE(t.size(), 3u);
  EXPECT_LE(t.front(), 0.713);
  EXPECT_GE(t.back(), 0.902);
  const double step = t[1] - t[0];
  EXPECT_NEAR(step, 0.05, 1e-12);
  for (std::size_t i = 1; i < t.size(); ++i) EXPECT_NEAR(t[i] - t[i - 1], step, 1e-12);
  // A flat series still gets an axis.
  const auto flat = plot::nice_ticks(0.01, 0.01, 5);
  EXPECT_LT(flat.front(), 0.01);
  EXPECT_GT(flat.back(), 0.01);
  EXPECT_EQ(plot::tick_label(0.30000000000000004), "0.3");
  EXPECT_EQ(plot::tick_label(1500), "1500");
}

TEST(MovingAverage, AveragesTheLastWindowPoints) {
  const auto m = plot::moving_average({1, 2, 3, 4, 5}, 2);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_DOUBLE_EQ(m[0], 1);
  EXPECT_DOUBLE_EQ(m[1], 1.5);
  EXPECT_DOUBLE_EQ(m[4], 4.5);
}

TEST(Downsample, KeepsAtMostMaxPointsAndTheMean) {
  std::vector<double> x, y;
  for (int i = 0; i < 10000; ++i) x.push_back(i), y.push_back(i % 2);
  plot::downsample(&x, &y, 100);
  ASSERT_EQ(x.size(), 100u);
  for (double v : y) EXPECT_DOUBLE_EQ(v, 0.5);
  EXPECT_DOUBLE_EQ(x.front(), 49.5);
}

TEST(Render, SeriesBandsErrorBarsMarkersAndAxes) {
  plot::Chart c("val <acc>", "epoch", "accuracy");
  plot::Series a("lr=0.01", {1, 2, 3}, {0.7, 0.8, 0.9});
  a.lo = {0.65, 0.75, 0.85};
  a.hi = {0.75, 0.85, 0.95};
  plot::Series b("lr=\"0.02\"", {1, 2, 3}, {0.6, 0.7, 0.8});
  b.err = {0.01, 0.02, 0.03};
  b.color = 1;
  c.series = {a, b};
  c.markers = {{2, "B differs at 2"}};
  const std::string svg = plot::render(c);
  EXPECT_EQ(count(svg, "class='series'"), 2u);
  EXPECT_EQ(count(svg, "class='band'"), 1u);
  EXPECT_EQ(count(svg, "class='errbar'"), 3u);
  EXPECT_EQ(count(svg, "class='marker'"), 1u);
  EXPECT_NE(svg.find("class='axis x'"), std::string::npos);
  EXPECT_NE(svg.find("class='axis y'"), std::string::npos);
  EXPECT_NE(svg.find(">epoch</text>"), std::string::npos);
  EXPECT_NE(svg.find(">accuracy</text>"), std::string::npos);
  EXPECT_NE(svg.find("val &lt;acc&gt;"), std::string::npos);  // escaped
  EXPECT_EQ(svg.find("lr=\"0.02\""), std::string::npos);
  // Epochs are whole numbers: no tick at 1.5.
  EXPECT_EQ(svg.find(">1.5</text>"), std::string::npos);
  EXPECT_NE(svg.find(">2</text>"), std::string::npos);
}

TEST(Render, TheLegendIsRightOfEveryDataPoint) {
  plot::Chart c("loss", "step", "loss");
  plot::Series s("a very long series name that would run into the plot area", {}, {});
  for (int i = 0; i < 50; ++i) s.x.push_back(i), s.y.push_back(i * i);
  c.series = {s};
  const std::string svg = plot::render(c);
  double max_point_x = 0;
  const std::string pts = svg.substr(svg.find("points='") + 8);
  std::regex num_pair("([0-9.]+),([0-9.]+)");
  for (std::sregex_iterator
           it(pts.begin(), pts.begin() + static_cast<long>(pts.find('\'')), num_pair),
       end;
       it != end; ++it) {
    max_point_x = std::max(max_point_x, std::stod((*it)[1]));
  }
  const std::string legend = svg.substr(svg.find("class='legend'"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(legend, m, std::regex("x1='([0-9.]+)'")));
  EXPECT_GT(std::stod(m[1]), max_point_x);
  EXPECT_NE(legend.find("\u2026"), std::string::npos);  // shortened, full name in <title>
  EXPECT_NE(svg.find("<title>a very long series name that would run into the plot area</title>"),
            std::string::npos);
}

TEST(Render, NothingToDrawIsEmpty) {
  plot::Chart c("empty", "x", "y");
  c.series = {plot::Series("none")};
  EXPECT_EQ(plot::render(c), "");
}

}  // namespace
}  // namespace mltrain
