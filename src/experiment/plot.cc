// Inline SVG charts for the reports (see plot.h).
#include "experiment/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "mltrain/experiment.h"

namespace mltrain {
namespace plot {
namespace {

constexpr double kLegendWidth = 180;
constexpr double kLeft = 62, kTop = 30, kBottom = 46, kRightPad = 14;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A name shortened for the legend (the full one is in the tooltip).
std::string shorten(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s;
  std::size_t cut = n - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return s.substr(0, cut) + "\u2026";
}

}  // namespace

const char* color(int i) {
  static const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                   "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  const int n = static_cast<int>(sizeof kPalette / sizeof kPalette[0]);
  return kPalette[((i % n) + n) % n];
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  const double rough = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(rough)));
  double step = mag * 10;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= rough) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9) * step;
  for (double t = first; ticks.empty() || ticks.back() < hi - 1e-9 * step; t += step) {
    ticks.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
    if (ticks.size() > 100) break;
  }
  return ticks;
}

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::vector<double> moving_average(const std::vector<double>& y, std::size_t window) {
  std::vector<double> out(y.size());
  window = std::max<std::size_t>(1, window);
  double sum = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    sum += y[i];
    if (i >= window) sum -= y[i - window];
    out[i] = sum / static_cast<double>(std::min(i + 1, window));
  }
  return out;
}

void downsample(std::vector<double>* x, std::vector<double>* y, std::size_t max_points) {
  const std::size_t n = std::min(x->size(), y->size());
  if (max_points == 0 || n <= max_points) return;
  std::vector<double> ox, oy;
  for (std::size_t b = 0; b < max_points; ++b) {
    const std::size_t from = b * n / max_points, to = (b + 1) * n / max_points;
    double sx = 0, sy = 0;
    for (std::size_t i = from; i < to; ++i) sx += (*x)[i], sy += (*y)[i];
    const double k = static_cast<double>(to - from);
    ox.push_back(sx / k);
    oy.push_back(sy / k);
  }
  *x = std::move(ox);
  *y = std::move(oy);
}

std::string render(const Chart& c) {
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  bool any = false;
  for (const Series& s : c.series) {
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      any = true;
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      double lo = s.y[i], hi = s.y[i];
      if (i < s.lo.size() && i < s.hi.size())
        lo = std::min(lo, s.lo[i]), hi = std::max(hi, s.hi[i]);
      if (i < s.err.size())
        lo = std::min(lo, s.y[i] - s.err[i]), hi = std::max(hi, s.y[i] + s.err[i]);
      if (std::isfinite(lo)) ylo = std::min(ylo, lo);
      if (std::isfinite(hi)) yhi = std::max(yhi, hi);
    }
  }
  if (!any) return "";
  const bool categorical = !c.x_categories.empty();
  bool integral_x = true;  // epochs, steps: no tick at 1.5
  for (const Series& s : c.series) {
    for (double v : s.x) integral_x = integral_x && v == std::floor(v);
  }
  if (categorical) {
    xlo = -0.5;
    xhi = static_cast<double>(c.x_categories.size()) - 0.5;
  }
  for (const Marker& m : c.markers) xlo = std::min(xlo, m.x), xhi = std::max(xhi, m.x);
  const std::vector<double> yt = nice_ticks(ylo, yhi, 5);
  ylo = yt.front();
  yhi = yt.back();
  std::vector<double> xt;
  if (!categorical) {
    xt = nice_ticks(xlo, xhi, 6);
    if (integral_x && xt.size() > 1 && xt[1] - xt[0] < 1) {
      xt.clear();
      for (double t = std::floor(xlo); t <= xhi + 1e-9; t += 1) xt.push_back(t);
    }
    if (xhi > xlo) {
      // Keep the data edge to edge; ticks outside the range are dropped.
      xt.erase(std::remove_if(xt.begin(), xt.end(),
                              [&](double t) { return t < xlo - 1e-9 || t > xhi + 1e-9; }),
               xt.end());
    } else {
      xlo = xt.front();
      xhi = xt.back();
    }
  }
  const double W = c.width, H = c.height;
  const double pw = W - kLeft - kLegendWidth - kRightPad, ph = H - kTop - kBottom;
  auto X = [&](double v) { return kLeft + (xhi > xlo ? (v - xlo) / (xhi - xlo) * pw : pw / 2); };
  auto Y = [&](double v) {
    return kTop + ph - (yhi > ylo ? (v - ylo) / (yhi - ylo) * ph : ph / 2);
  };

  std::ostringstream o;
  o << "<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='" << c.width << "' height='"
    << c.height << "' viewBox='0 0 " << c.width << " " << c.height << "' role='img' aria-label='"
    << html_escape(c.title) << "'>";
  o << "<text x='" << kLeft << "' y='18' font-size='13' font-weight='bold'>" << html_escape(c.title)
    << "</text>";
  // Grid and y axis.
  o << "<g class='axis y' font-size='11' text-anchor='end'>";
  for (double t : yt) {
    o << "<line x1='" << num(kLeft) << "' x2='" << num(kLeft + pw) << "' y1='" << num(Y(t))
      << "' y2='" << num(Y(t)) << "' stroke='#e4e4e4'/><text x='" << num(kLeft - 5) << "' y='"
      << num(Y(t) + 4) << "'>" << tick_label(t) << "</text>";
  }
  o << "<line x1='" << num(kLeft) << "' x2='" << num(kLeft) << "' y1='" << num(kTop) << "' y2='"
    << num(kTop + ph) << "' stroke='#666'/></g>";
  // X axis.
  o << "<g class='axis x' font-size='11' text-anchor='middle'>";
  o << "<line x1='" << num(kLeft) << "' x2='" << num(kLeft + pw) << "' y1='" << num(kTop + ph)
    << "' y2='" << num(kTop + ph) << "' stroke='#666'/>";
  if (categorical) {
    for (std::size_t i = 0; i < c.x_categories.size(); ++i) {
      const double x = X(static_cast<double>(i));
      o << "<line x1='" << num(x) << "' x2='" << num(x) << "' y1='" << num(kTop + ph) << "' y2='"
        << num(kTop + ph + 4) << "' stroke='#666'/><text x='" << num(x) << "' y='"
        << num(kTop + ph + 16) << "'>" << html_escape(shorten(c.x_categories[i], 18)) << "</text>";
    }
  } else {
    for (double t : xt) {
      o << "<line x1='" << num(X(t)) << "' x2='" << num(X(t)) << "' y1='" << num(kTop + ph)
        << "' y2='" << num(kTop + ph + 4) << "' stroke='#666'/><text x='" << num(X(t)) << "' y='"
        << num(kTop + ph + 16) << "'>" << tick_label(t) << "</text>";
    }
  }
  o << "</g>";
  o << "<text class='axis-label' x='" << num(kLeft + pw / 2) << "' y='" << num(H - 8)
    << "' font-size='12' text-anchor='middle'>" << html_escape(c.x_label) << "</text>";
  o << "<text class='axis-label' font-size='12' text-anchor='middle' transform='translate(14,"
    << num(kTop + ph / 2) << ") rotate(-90)'>" << html_escape(c.y_label) << "</text>";

  // Bands first, under every line.
  for (const Series& s : c.series) {
    const std::size_t n = std::min({s.x.size(), s.y.size(), s.lo.size(), s.hi.size()});
    if (n == 0) continue;
    o << "<polygon class='band' data-name='" << html_escape(s.name) << "' fill='" << color(s.color)
      << "' fill-opacity='0.18' stroke='none' points='";
    for (std::size_t i = 0; i < n; ++i) o << num(X(s.x[i])) << "," << num(Y(s.hi[i])) << " ";
    for (std::size_t i = n; i-- > 0;) o << num(X(s.x[i])) << "," << num(Y(s.lo[i])) << " ";
    o << "'/>";
  }
  for (const Series& s : c.series) {
    const std::size_t n = std::min(s.x.size(), s.y.size());
    o << "<g class='series' data-name='" << html_escape(s.name) << "' stroke='" << color(s.color)
      << "' fill='" << color(s.color) << "'"
      << (s.opacity < 1 ? " opacity='" + num(s.opacity) + "'" : "") << "><title>"
      << html_escape(s.name) << "</title>";
    if (n > 1) {
      o << "<polyline fill='none' stroke-width='" << s.width << "'"
        << (s.dashed ? " stroke-dasharray='5,3'" : "") << " points='";
      for (std::size_t i = 0; i < n; ++i) {
        if (std::isfinite(s.y[i])) o << num(X(s.x[i])) << "," << num(Y(s.y[i])) << " ";
      }
      o << "'/>";
    }
    for (std::size_t i = 0; i < std::min(n, s.err.size()); ++i) {
      const double x = X(s.x[i]), a = Y(s.y[i] - s.err[i]), b = Y(s.y[i] + s.err[i]);
      o << "<path class='errbar' stroke-width='1.5' d='M" << num(x) << " " << num(a) << "V"
        << num(b) << "M" << num(x - 4) << " " << num(a) << "h8M" << num(x - 4) << " " << num(b)
        << "h8'/>";
    }
    if (s.points || n == 1 || !s.err.empty()) {
      for (std::size_t i = 0; i < n; ++i) {
        if (std::isfinite(s.y[i])) {
          o << "<circle cx='" << num(X(s.x[i])) << "' cy='" << num(Y(s.y[i])) << "' r='3'/>";
        }
      }
    }
    o << "</g>";
  }
  for (const Marker& m : c.markers) {
    o << "<g class='marker'><line x1='" << num(X(m.x)) << "' x2='" << num(X(m.x)) << "' y1='"
      << num(kTop) << "' y2='" << num(kTop + ph)
      << "' stroke='#000' stroke-width='1.2' stroke-dasharray='3,3'/><text x='" << num(X(m.x) + 3)
      << "' y='" << num(kTop + 10) << "' font-size='11'>" << html_escape(m.label) << "</text></g>";
  }
  // Legend: its own column right of the plot area.
  o << "<g class='legend' font-size='11'>";
  const double lx = kLeft + pw + kRightPad;
  double ly = kTop + 4;
  for (const Series& s : c.series) {
    if (ly > H - 10) break;
    o << "<g><title>" << html_escape(s.name) << "</title><line x1='" << num(lx) << "' x2='"
      << num(lx + 18) << "' y1='" << num(ly) << "' y2='" << num(ly) << "' stroke='"
      << color(s.color) << "' stroke-width='3'" << (s.dashed ? " stroke-dasharray='5,3'" : "")
      << "/><text x='" << num(lx + 23) << "' y='" << num(ly + 4) << "'>"
      << html_escape(shorten(s.name, 26)) << "</text></g>";
    ly += 16;
  }
  o << "</g></svg>";
  return o.str();
}

}  // namespace plot
}  // namespace mltrain
