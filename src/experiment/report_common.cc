// The parts every report page shares (report_common.h), and render_report,
// which picks the page for a directory.
#include "experiment/report_common.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "core/fs.h"
#include "experiment/metrics.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"
#include "mltrain/layout.h"
#include "run/record_files.h"

namespace mltrain {
namespace report {
namespace {

using json = nlohmann::json;

// ------------------------------------------------------------- page parts

const char* kStyle =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left;font-size:13px;vertical-align:top}th{background:#f3f3f3}"
    "table.sortable th,table.index th{cursor:pointer}"
    "table.sortable th:after,table.index th:after{content:' \\2195';color:#aaa}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "td.diff{background:#fff3b0;font-weight:bold}tr.bad td{background:#fde4e4}"
    ".ok{color:#17803d}.warn{color:#b45309}.err{color:#b91c1c;font-weight:bold}"
    "pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}code{font-size:12px}"
    ".charts{display:flex;flex-wrap:wrap;gap:8px}svg.chart{background:#fff;max-width:100%;height:"
    "auto}"
    "input#filter{font-size:14px;padding:3px 6px;width:24em}"
    "@media print{body{max-width:none;margin:0}input#filter,button#more{display:none}"
    "table.sortable th:after,table.index th:after{content:''}svg.chart{break-inside:avoid}}";

// Click a header to sort (numbers by data-v).
const char* kScript =
    "document.querySelectorAll('table.sortable').forEach(function(t){"
    "var hs=t.tHead.rows[0].cells;for(var "
    "i=0;i<hs.length;i++)(function(i){hs[i].onclick=function(){"
    "var b=t.tBodies[0],d=this.getAttribute('data-dir')==='a'?-1:1;"
    "this.setAttribute('data-dir',d>0?'a':'d');"
    "var rs=Array.prototype.map.call(b.rows,function(r){var "
    "c=r.cells[i],v=c?c.getAttribute('data-v'):null;"
    "return [v===null?null:parseFloat(v),c?c.textContent:'',r]});"
    "rs.sort(function(x,y){if(x[0]!==null&&y[0]!==null)return d*(x[0]-y[0]);"
    "if(x[0]!==null)return -1;if(y[0]!==null)return 1;return d*x[1].localeCompare(y[1])});"
    "var f=document.createDocumentFragment();rs.forEach(function(r){f.appendChild(r[2])});"
    "b.appendChild(f)}})(i)});";

}  // namespace

std::string esc(const std::string& s) { return html_escape(s); }

std::string text(const json& v) { return json_text(v); }

std::string page(const std::string& title, const std::string& body, bool script,
                 const char* extra_script) {
  return "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
         "content='width=device-width,initial-scale=1'><title>" +
         esc(title) + "</title><style>" + kStyle + "</style></head><body>\n" + body +
         (script ? std::string("\n<script>") + kScript + "</script>" : std::string()) +
         (extra_script ? std::string("\n<script>") + extra_script + "</script>" : std::string()) +
         "\n</body></html>\n";
}

Cell num_cell(const json& v, int digits) {
  Cell c(v.is_number() ? fixed_decimals(v.get<double>(), digits) : "-");
  c.cls = "num";
  if (v.is_number()) c.sort = v.get<double>();
  return c;
}

std::string table(const std::vector<std::string>& head, const std::vector<std::vector<Cell>>& rows,
                  const std::string& cls, const std::vector<std::string>& row_cls,
                  const std::vector<std::string>& head_titles) {
  std::ostringstream o;
  o << "<table" << (cls.empty() ? "" : " class='" + cls + "'") << "><thead><tr>";
  for (std::size_t i = 0; i < head.size(); ++i) {
    const bool titled = i < head_titles.size() && !head_titles[i].empty();
    o << (titled ? "<th title='" + esc(head_titles[i]) + "'>" : std::string("<th>")) << esc(head[i])
      << "</th>";
  }
  o << "</tr></thead><tbody>";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    o << (i < row_cls.size() && !row_cls[i].empty() ? "<tr class='" + row_cls[i] + "'>" : "<tr>");
    for (const Cell& c : rows[i]) {
      o << "<td";
      if (!c.cls.empty()) o << " class='" << c.cls << "'";
      if (!std::isnan(c.sort)) o << " data-v='" << json(c.sort).dump() << "'";
      o << ">" << esc(c.text) << "</td>";
    }
    o << "</tr>";
  }
  o << "</tbody></table>\n";
  return o.str();
}

std::string pre_json(const json& j) {
  return "<pre>" + esc(j.dump(2, ' ', false, json::error_handler_t::replace)) + "</pre>";
}

// ------------------------------------------------------------ the records

// A trace line's loss: float32 bits as 8 hex digits (or a plain number).
double trace_loss(const json& line) {
  const json v = json_at(line, "loss");
  if (v.is_number()) return v.get<double>();
  if (!v.is_string() || v.get<std::string>().size() != 8) return kNaN;
  const std::string h = v.get<std::string>();
  std::uint32_t bits = 0;
  for (char c : h) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return kNaN;
    bits = bits << 4 | static_cast<std::uint32_t>(d);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return static_cast<double>(f);
}

StepCurves step_curves(const RunRecord& r) {
  StepCurves c;
  for (std::size_t i = 0; i < r.trace.size(); ++i) {
    const json s = json_at(r.trace[i], "step");
    c.step.push_back(s.is_number() ? s.get<double>() : static_cast<double>(i + 1));
    c.loss.push_back(trace_loss(r.trace[i]));
    const json lr = json_at(r.trace[i], "lr");
    c.lr.push_back(lr.is_number() ? lr.get<double>() : kNaN);
  }
  return c;
}

// A per-epoch metric as (epoch, value) pairs; epochs without it are skipped.
void epoch_series(const std::vector<json>& metrics, const std::string& key, std::vector<double>* x,
                  std::vector<double>* y) {
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    const json v = metrics[i].is_object() ? metrics[i].value(key, json()) : json();
    if (!v.is_number()) continue;
    const json e = json_at(metrics[i], "epoch");
    x->push_back(e.is_number() ? e.get<double>() : static_cast<double>(i + 1));
    y->push_back(v.get<double>());
  }
}

std::vector<std::string> metric_keys(const std::vector<json>& metrics) {
  std::set<std::string> keys;
  for (const auto& m : metrics) {
    if (!m.is_object()) continue;
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!is_bookkeeping(it.key()) && it.value().is_number()) keys.insert(it.key());
    }
  }
  std::vector<std::string> out(keys.begin(), keys.end());
  sort_metric_names(&out);
  return out;
}

int metric_color(const std::string& key, const std::vector<std::string>& all) {
  const int i = static_cast<int>(std::find(all.begin(), all.end(), key) - all.begin());
  return i < 4 ? i : i + 1;  // colour 4 is the learning rate's
}

MetricColumns metric_columns(const std::vector<RunRecord>& runs) {
  MetricColumns c;
  for (const RunRecord& r : runs) c.add(run_metrics(r), declared_directions(r));
  return c;
}

Cell metric_cell(const json& v) {
  Cell c(metric_text(v));
  c.cls = "num";
  if (v.is_number()) c.sort = v.get<double>();
  return c;
}

std::vector<std::string> direction_titles(const std::vector<std::string>& head,
                                          const MetricColumns& metrics) {
  std::vector<std::string> out;
  for (const auto& h : head) out.push_back(metrics.has(h) ? metrics.direction_text(h) : "");
  return out;
}

// The per-step loss chart: the raw losses (down-sampled, light) and their
// moving average (window in the title), one colour per run.
// About 1/25 of the run, at least 5 steps; none for a run of under 10 steps.
std::size_t ma_window(const StepCurves& s) {
  const std::size_t n = s.loss.size();
  return n < 10 ? 1 : std::max<std::size_t>(5, n / 25);
}

void add_step_loss(plot::Chart* c, const StepCurves& s, const std::string& name, int color,
                   bool raw) {
  std::vector<double> x = s.step, y = s.loss;
  std::vector<double> ma = plot::moving_average(y, ma_window(s)), mx = x;
  if (raw && ma_window(s) > 1) {
    plot::downsample(&x, &y, 600);
    plot::Series r(name + " per step", x, y);
    r.color = color;
    r.width = 1;
    r.opacity = 0.35;
    c->series.push_back(r);
  }
  plot::downsample(&mx, &ma, 600);
  plot::Series m(raw && ma_window(s) > 1 ? name + " moving average" : name, mx, ma);
  m.color = color;
  c->series.push_back(m);
}

// A config or environment value in a table: exact, strings unquoted.
std::string exact(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.is_null() ? "null" : json_line(v);
}

std::string verification_html(const RunRecord& r) {
  const json v = verification_status(r);
  const std::string t = v["text"].get<std::string>();
  const char* cls = !v["diverged_step"].is_null()           ? "err"
                    : v["verified"].get<std::int64_t>() > 0 ? "ok"
                                                            : "warn";
  return "<span class='" + std::string(cls) + "'>" + esc(t) + "</span>";
}

}  // namespace report

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        o.push_back(c);
    }
  }
  return o;
}

std::string render_report(const std::string& dir) {
  const std::string sweep_file = join_path(dir, layout::kSweepFile);
  if (path_exists(sweep_file)) return report::sweep_page(read_sweep_file(sweep_file));
  if (is_run_dir(dir)) return report::run_page(load_run(dir));
  if (!is_directory(dir)) fail_usage(dir + ": no such directory");
  return render_index(dir);
}

}  // namespace mltrain
