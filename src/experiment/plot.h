// Internal: inline SVG charts for the HTML reports. Line series with an
// optional band (mean +- std) or error bars, vertical markers, axes with
// "nice" ticks and labels, and a legend in its own column to the right of
// the plot area, so it never covers data. Every string is escaped.
//
// The SVG carries classes a browser test can count: "series" (one per
// series, data-name = its name), "band", "errbar", "marker", "axis x",
// "axis y", "axis-label", "legend".
#ifndef MLTRAIN_SRC_EXPERIMENT_PLOT_H_
#define MLTRAIN_SRC_EXPERIMENT_PLOT_H_

#include <string>
#include <utility>
#include <vector>

namespace mltrain {
namespace plot {

struct Series {
  explicit Series(std::string n = "", std::vector<double> xs = {}, std::vector<double> ys = {})
      : name(std::move(n)), x(std::move(xs)), y(std::move(ys)) {}
  std::string name;
  std::vector<double> x, y;
  std::vector<double> lo, hi;  // a shaded band (same length as y), or empty
  std::vector<double> err;     // +- error bars at each point, or empty
  int color = 0;               // index into the palette: the same series, the same colour
  bool dashed = false;
  bool points = false;  // a dot at each point
  double width = 2;     // stroke width
  double opacity = 1;
};

struct Marker {
  double x = 0;
  std::string label;
};

struct Chart {
  Chart(std::string t, std::string xl, std::string yl)
      : title(std::move(t)), x_label(std::move(xl)), y_label(std::move(yl)) {}
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<Marker> markers;
  // Categorical x axis: series x values are indexes 0..n-1 into these labels.
  std::vector<std::string> x_categories;
  int width = 530, height = 270;
};

// The SVG element, or "" when no series has a point.
std::string render(const Chart& chart);

// The palette colour for index i (wraps around).
const char* color(int i);

// Tick positions covering [lo, hi] at a 1/2/2.5/5 x 10^k step, about
// `target` of them; the first <= lo and the last >= hi.
std::vector<double> nice_ticks(double lo, double hi, int target);

// A tick label: at most 4 significant digits, no trailing zeros.
std::string tick_label(double v);

// Trailing moving average over `window` points (the first points average
// what is there).
std::vector<double> moving_average(const std::vector<double>& y, std::size_t window);

// At most max_points points: consecutive points averaged in equal buckets
// (x and y alike). Returns the input when it is short enough.
void downsample(std::vector<double>* x, std::vector<double>* y, std::size_t max_points);

}  // namespace plot
}  // namespace mltrain

#endif  // MLTRAIN_SRC_EXPERIMENT_PLOT_H_
