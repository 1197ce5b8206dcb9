// report: self-contained HTML pages (inline SVG and CSS, a small inline
// script for sorting and filtering; no network) of a run, a sweep, a
// comparison of runs, and an index of an output directory, for sharing a
// result with the evidence behind it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "core/fs.h"
#include "experiment/flatten.h"
#include "experiment/plot.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"
#include "mltrain/layout.h"
#include "run/record_files.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::string esc(const std::string& s) { return html_escape(s); }

std::string text(const json& v) { return json_text(v); }

const double kNaN = std::nan("");

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

// The index's table: rows from the JSON block, 200 at a time, sorted and
// filtered in the page.
const char* kIndexScript =
    "(function(){var D=JSON.parse(document.getElementById('rows').textContent),"
    "t=document.querySelector('table.index'),b=t.tBodies[0],q=document.getElementById('filter'),"
    "shown=document.getElementById('shown'),more=document.getElementById('more'),"
    "N=200,lim=N,col=-1,dir=1,view=D;"
    "function txt(c){return Array.isArray(c)?c[0]:c}function key(c){return "
    "Array.isArray(c)?c[1]:null}"
    "D.forEach(function(r){r.s=r.slice(1).map(txt).join(' ').toLowerCase()});"
    "function draw(){var f=document.createDocumentFragment();view.slice(0,lim).forEach(function(r){"
    "var tr=document.createElement('tr');if(r[0])tr.className=r[0];for(var i=1;i<r.length;i++){"
    "var c=r[i],td=document.createElement('td');td.textContent=txt(c);if(Array.isArray(c)){"
    "if(c[1]!==null)td.setAttribute('data-v',c[1]);if(c[2])td.className=c[2]}tr.appendChild(td)}"
    "f.appendChild(tr)});b.textContent='';b.appendChild(f);"
    "shown.textContent=Math.min(lim,view.length)+' of '+view.length;"
    "more.style.display=view.length>lim?'':'none'}"
    "function apply(){var v=q.value.toLowerCase();"
    "view=v?D.filter(function(r){return r.s.indexOf(v)>=0}):D.slice();if(col>=0){var i=col+1;"
    "view.sort(function(x,y){var a=key(x[i]),c=key(y[i]);if(a!==null&&c!==null)return dir*(a-c);"
    "if(a!==null)return -1;if(c!==null)return 1;return "
    "dir*String(txt(x[i])).localeCompare(String(txt(y[i])))})}"
    "draw()}"
    "[].forEach.call(t.tHead.rows[0].cells,function(h,i){h.onclick=function(){"
    "dir=col===i?-dir:1;col=i;apply()}});"
    "q.oninput=function(){lim=N;apply()};more.onclick=function(){lim+=N;draw()};draw()})();";

std::string page(const std::string& title, const std::string& body, bool script = false,
                 const char* extra_script = nullptr) {
  return "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
         "content='width=device-width,initial-scale=1'><title>" +
         esc(title) + "</title><style>" + kStyle + "</style></head><body>\n" + body +
         (script ? std::string("\n<script>") + kScript + "</script>" : std::string()) +
         (extra_script ? std::string("\n<script>") + extra_script + "</script>" : std::string()) +
         "\n</body></html>\n";
}

// A table cell: text (escaped here), an optional class and numeric sort key.
struct Cell {
  std::string text;
  std::string cls;
  double sort = kNaN;
  Cell(const std::string& t = "") : text(t) {}  // NOLINT: rows are written as {"a", "b"}
  Cell(const char* t) : text(t) {}              // NOLINT
};

Cell num_cell(const json& v, int digits = 4) {
  Cell c(v.is_number() ? fixed_decimals(v.get<double>(), digits) : "-");
  c.cls = "num";
  if (v.is_number()) c.sort = v.get<double>();
  return c;
}

std::string table(const std::vector<std::string>& head, const std::vector<std::vector<Cell>>& rows,
                  const std::string& cls = "", const std::vector<std::string>& row_cls = {}) {
  std::ostringstream o;
  o << "<table" << (cls.empty() ? "" : " class='" + cls + "'") << "><thead><tr>";
  for (const auto& h : head) o << "<th>" << esc(h) << "</th>";
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

struct StepCurves {
  std::vector<double> step, loss, lr;
};

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
    const json v = json_at(metrics[i], key);
    if (!v.is_number()) continue;
    const json e = json_at(metrics[i], "epoch");
    x->push_back(e.is_number() ? e.get<double>() : static_cast<double>(i + 1));
    y->push_back(v.get<double>());
  }
}

// Numeric per-epoch metrics other than bookkeeping, in key order.
std::vector<std::string> metric_keys(const std::vector<json>& metrics) {
  std::set<std::string> keys;
  for (const auto& m : metrics) {
    if (!m.is_object()) continue;
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string& k = it.key();
      const bool bookkeeping = k == "epoch" || k == "step" || k == "lr" ||
                               (k.size() >= 7 && k.compare(k.size() - 7, 7, "seconds") == 0);
      if (!bookkeeping && it.value().is_number()) keys.insert(k);
    }
  }
  return {keys.begin(), keys.end()};
}

// One colour per metric name, the same on every page.
int metric_color(const std::string& key, const std::vector<std::string>& all) {
  static const std::map<std::string, int> kFixed = {
      {"train_loss", 0}, {"val_loss", 1}, {"val_acc", 2}, {"val_f1", 3}, {"lr", 4}};
  auto it = kFixed.find(key);
  if (it != kFixed.end()) return it->second;
  return 5 + static_cast<int>(std::find(all.begin(), all.end(), key) - all.begin());
}

bool is_loss(const std::string& k) { return k.find("loss") != std::string::npos; }

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

// ------------------------------------------------------------- run report

std::string run_report(const RunRecord& r) {
  std::ostringstream b;
  const std::string id = r.run_id().empty() ? r.dir : r.run_id();
  b << "<h1>Run " << esc(id) << "</h1>";
  b << "<p>Status <b>" << esc(r.status().empty() ? "?" : r.status()) << "</b>, seed "
    << esc(text(json_at(r.config, "seed"))) << ", deterministic "
    << esc(text(json_at(r.config, "deterministic")));
  if (!json_at(r.config, "model.arch").is_null()) {
    b << ", model " << esc(text(json_at(r.config, "model.arch")));
  }
  const json trainer = json_at(r.run, "trainer");
  b << ", trained by " << esc(trainer.is_string() ? trainer.get<std::string>() : "its own program")
    << ". Verification: " << verification_html(r) << ".</p>";
  if (r.summary.is_object()) {
    b << "<h2>Result</h2>";
    if (json_at(r.summary, "val").is_object()) {
      auto split_row = [&](const char* split) {
        const json s = json_at(r.summary, split);
        return std::vector<Cell>{split, num_cell(json_at(s, "acc")), num_cell(json_at(s, "f1")),
                                 num_cell(json_at(s, "loss"))};
      };
      b << table({"split", "accuracy", "macro-F1", "loss"}, {split_row("val"), split_row("test")});
    } else {
      std::vector<std::vector<Cell>> rows;
      for (auto it = r.summary.begin(); it != r.summary.end(); ++it) {
        if (it.value().is_number() && it.key().find("seconds") == std::string::npos) {
          rows.push_back({it.key(), num_cell(it.value())});
        }
      }
      b << table({"metric", "value"}, rows);
    }
    b << "<p>state_sha256 <code>" << esc(r.state_sha256()) << "</code> after "
      << esc(text(json_at(r.summary, "steps"))) << " steps.</p>";
  }
  const std::vector<std::string> keys = metric_keys(r.metrics);
  const StepCurves steps = step_curves(r);
  b << "<h2>Training</h2><div class='charts'>";
  if (!steps.step.empty()) {
    plot::Chart c{
        "Training loss per step (moving average of " + std::to_string(ma_window(steps)) + ")",
        "step", "loss"};
    add_step_loss(&c, steps, "loss", 0, true);
    b << plot::render(c);
  }
  plot::Chart losses{"Loss per epoch", "epoch", "loss"}, others{"Validation", "epoch", "value"};
  for (const auto& k : keys) {
    plot::Series s{k};
    epoch_series(r.metrics, k, &s.x, &s.y);
    s.color = metric_color(k, keys);
    s.points = true;
    (is_loss(k) ? losses : others).series.push_back(s);
  }
  if (losses.series.empty()) others.title = "Metrics";
  b << plot::render(losses) << plot::render(others);
  {
    plot::Chart lr{"Learning rate", "step", "lr"};
    plot::Series s{"lr", steps.step, steps.lr};
    s.color = 4;
    if (std::none_of(s.y.begin(), s.y.end(), [](double v) { return std::isfinite(v); })) {
      s = plot::Series{"lr"};
      epoch_series(r.metrics, "lr", &s.x, &s.y);
      lr.x_label = "epoch";
      s.color = 4;
    }
    plot::downsample(&s.x, &s.y, 600);
    lr.series.push_back(s);
    b << plot::render(lr);
  }
  b << "</div>";
  if (!r.metrics.empty() && !keys.empty()) {
    std::vector<std::string> head = {"epoch", "step"};
    head.insert(head.end(), keys.begin(), keys.end());
    head.insert(head.end(), {"lr", "seconds"});
    std::vector<std::vector<Cell>> mrows;
    for (const auto& m : r.metrics) {
      std::vector<Cell> row;
      for (const auto& h : head) {
        const json v = json_at(m, h);
        row.push_back(v.is_number_float() ? num_cell(v, h == "lr" ? 6 : 4) : Cell(text(v)));
      }
      mrows.push_back(row);
    }
    b << table(head, mrows);
  }
  b << "<h2>Config (run identity)</h2><p>run_id = first 8 hex of sha1(config.json), the "
       "canonical JSON of this object.</p>"
    << pre_json(r.config);
  const json files = json_at(r.data, "files");
  if (files.is_array()) {
    std::vector<std::vector<Cell>> rows;
    for (const auto& f : files) {
      rows.push_back({text(json_at(f, "split")), text(json_at(f, "path")), text(json_at(f, "rows")),
                      text(json_at(f, "sha256"))});
    }
    b << "<h2>Data</h2>" << table({"split", "path", "rows", "sha256"}, rows);
    if (!json_at(r.data, "labels").is_null()) {
      b << "<p>labels " << esc(json_line(json_at(r.data, "labels"))) << ", vocabulary "
        << esc(text(json_at(r.data, "vocab.size"))) << " tokens, sha256 <code>"
        << esc(text(json_at(r.data, "vocab.sha256"))) << "</code></p>";
    }
  }
  if (r.env.is_object()) {
    const json cuda = json_at(r.env, "cuda");
    b << "<h2>Environment</h2>"
      << table({"field", "value"},
               {{"ml-train", text(json_at(r.env, "ml_train.version")) + " (" +
                                 text(json_at(r.env, "ml_train.revision")) + ")"},
                {"compiler", text(json_at(r.env, "compiler"))},
                {"LibTorch", text(json_at(r.env, "libtorch.version"))},
                {"BLAS", text(json_at(r.env, "blas.loaded"))},
                {"threads", json_line(json_at(r.env, "threads"))},
                {"CPU", text(json_at(r.env, "cpu.model"))},
                {"OS", text(json_at(r.env, "os.name")) + ", " + text(json_at(r.env, "os.kernel"))},
                {"CUDA", cuda.is_null() ? "none" : json_line(cuda)}});
  }
  if (r.evaluations.is_object() && !r.evaluations.empty()) {
    std::vector<std::vector<Cell>> rows;
    for (auto it = r.evaluations.begin(); it != r.evaluations.end(); ++it) {
      const json& e = it.value();
      rows.push_back({it.key(), text(json_at(e, "file.path")), text(json_at(e, "file.rows")),
                      num_cell(json_at(e, "metrics.accuracy")),
                      num_cell(json_at(e, "metrics.macro_f1")), text(json_at(e, "file.sha256"))});
    }
    b << "<h2>Evaluations</h2>"
      << table({"name", "file", "rows", "accuracy", "macro-F1", "file sha256"}, rows);
  }
  if (r.verifications.is_object() && !r.verifications.empty()) {
    std::vector<std::vector<Cell>> rows;
    for (auto it = r.verifications.begin(); it != r.verifications.end(); ++it) {
      const json& v = it.value();
      std::string vars;
      const json vs = json_at(v, "variations");
      if (vs.is_array()) {
        for (const auto& x : vs) vars += (vars.empty() ? "" : "; ") + text(x);
      }
      rows.push_back({text(json_at(v, "when")), text(json_at(v, "runs")), vars,
                      json_at(v, "identical") == json(true) ? "identical"
                                                            : text(json_at(v, "divergence.text")),
                      text(json_at(v, "divergence.cause.text"))});
    }
    b << "<h2>Verifications</h2>"
      << table({"when", "runs", "variations", "outcome", "likely cause"}, rows);
  }
  const json attempts = json_at(r.run, "attempts");
  if (attempts.is_array()) {
    std::vector<std::vector<Cell>> rows;
    for (const auto& a : attempts) {
      std::string cmd;
      const json command = json_at(a, "command");
      if (command.is_array()) {
        for (const auto& c : command) cmd += (cmd.empty() ? "" : " ") + text(c);
      }
      rows.push_back({text(json_at(a, "started")), text(json_at(a, "ended")),
                      text(json_at(a, "status")), text(json_at(a, "resumed_from_step")), cmd});
    }
    b << "<h2>Attempts</h2>"
      << table({"started", "ended", "status", "resumed from step", "command"}, rows);
  }
  return page("ml-train run " + id, b.str());
}

// ----------------------------------------------------------- sweep report

struct Stats {
  std::size_t n = 0;
  double mean = kNaN, std = 0, min = kNaN, max = kNaN;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

std::string pm(const Stats& s) {
  return s.n == 0 ? "-" : fixed_decimals(s.mean) + " \u00b1 " + fixed_decimals(s.std);
}

// "key=value" overrides of a sweep row, split.
std::vector<std::pair<std::string, std::string>> overrides_of(const json& row) {
  std::vector<std::pair<std::string, std::string>> out;
  const json o = json_at(row, "overrides");
  if (!o.is_array()) return out;
  for (const auto& x : o) {
    if (!x.is_string()) continue;
    const std::string s = x.get<std::string>();
    const auto eq = s.find('=');
    out.emplace_back(s.substr(0, eq), eq == std::string::npos ? "" : s.substr(eq + 1));
  }
  return out;
}

std::string join_except(const std::vector<std::pair<std::string, std::string>>& kv,
                        const std::string& skip1, const std::string& skip2) {
  std::string out;
  for (const auto& p : kv) {
    if (p.first == skip1 || p.first == skip2) continue;
    out += (out.empty() ? "" : " ") + p.first + "=" + p.second;
  }
  return out;
}

// `s` has passed read_sweep_file: runs and groups are lists of objects.
std::string sweep_report(const json& s) {
  std::ostringstream b;
  const std::string id = text(json_at(s, "sweep_id"));
  const json runs = s.value("runs", json::array());
  // Each run's group (its non-seed overrides) and, when readable, its record.
  std::vector<std::string> group_names;
  std::map<std::string, std::vector<std::size_t>> members;
  std::vector<RunRecord> records(runs.size());
  std::vector<bool> loaded(runs.size(), false);
  std::vector<std::string> varied;  // non-seed keys, in grid order
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto kv = overrides_of(runs[i]);
    for (const auto& p : kv) {
      if (p.first != "seed" && std::find(varied.begin(), varied.end(), p.first) == varied.end()) {
        varied.push_back(p.first);
      }
    }
    const std::string g = join_except(kv, "seed", "");
    const std::string name = g.empty() ? "all runs" : g;
    if (!members.count(name)) group_names.push_back(name);
    members[name].push_back(i);
    const json dir = json_at(runs[i], "dir");
    if (dir.is_string() && is_run_dir(dir.get<std::string>())) {
      try {
        records[i] = load_run(dir.get<std::string>());
        loaded[i] = true;
      } catch (const Error&) {
        // shown as unreadable in the runs table
      }
    }
  }
  auto completed = [&](std::size_t i) { return text(json_at(runs[i], "status")) == "completed"; };
  std::size_t n_done = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) n_done += completed(i) ? 1 : 0;
  b << "<h1>Sweep " << esc(id) << "</h1><p>" << runs.size() << " runs, " << n_done << " completed";
  if (n_done < runs.size()) b << ", <span class='err'>" << runs.size() - n_done << " not</span>";
  b << ". Groups are the combinations of the non-seed keys; curves are the mean over the "
       "group's completed runs with a band of \u00b1 one sample standard deviation.</p>";

  b << "<h2>Curves</h2><div class='charts'>";
  for (const char* key : {"val_acc", "val_loss", "train_loss"}) {
    plot::Chart c{std::string(key) + " per epoch (mean \u00b1 std over seeds)", "epoch", key};
    for (std::size_t g = 0; g < group_names.size(); ++g) {
      std::map<double, std::vector<double>> at;  // epoch -> values
      for (std::size_t i : members[group_names[g]]) {
        if (!loaded[i] || !completed(i)) continue;
        std::vector<double> x, y;
        epoch_series(records[i].metrics, key, &x, &y);
        for (std::size_t k = 0; k < x.size(); ++k) at[x[k]].push_back(y[k]);
      }
      plot::Series ser{group_names[g]};
      ser.color = static_cast<int>(g);
      for (const auto& e : at) {
        const Stats st = stats(e.second);
        ser.x.push_back(e.first);
        ser.y.push_back(st.mean);
        ser.lo.push_back(st.mean - st.std);
        ser.hi.push_back(st.mean + st.std);
      }
      if (!ser.x.empty()) c.series.push_back(ser);
    }
    b << plot::render(c);
  }
  // Final metric against each varied key: mean +- std over seeds, one line
  // per combination of the other keys.
  for (const std::string& k : varied) {
    std::vector<std::string> values;
    std::vector<std::string> lines;
    std::map<std::pair<std::string, std::string>, std::vector<double>> acc;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const auto kv = overrides_of(runs[i]);
      std::string v;
      for (const auto& p : kv) {
        if (p.first == k) v = p.second;
      }
      if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
      const std::string rest = join_except(kv, "seed", k);
      const std::string line = rest.empty() ? "final val_acc" : rest;
      if (std::find(lines.begin(), lines.end(), line) == lines.end()) lines.push_back(line);
      const json m = json_at(runs[i], "val_acc");
      if (completed(i) && m.is_number()) acc[{line, v}].push_back(m.get<double>());
    }
    plot::Chart c{"final val_acc against " + k + " (mean \u00b1 std)", k, "val_acc"};
    c.x_categories = values;
    for (std::size_t l = 0; l < lines.size(); ++l) {
      plot::Series ser{lines[l]};
      ser.color = static_cast<int>(l);
      for (std::size_t v = 0; v < values.size(); ++v) {
        const auto it = acc.find({lines[l], values[v]});
        if (it == acc.end()) continue;
        const Stats st = stats(it->second);
        ser.x.push_back(static_cast<double>(v));
        ser.y.push_back(st.mean);
        ser.err.push_back(st.std);
      }
      if (!ser.x.empty()) c.series.push_back(ser);
    }
    b << plot::render(c);
  }
  b << "</div>";

  std::vector<std::vector<Cell>> rows;
  std::vector<std::string> row_cls;
  for (const auto& g : group_names) {
    std::vector<double> va, vf, ta;
    for (std::size_t i : members[g]) {
      if (!completed(i)) continue;
      for (auto p : {std::make_pair("val_acc", &va), std::make_pair("val_f1", &vf),
                     std::make_pair("test_acc", &ta)}) {
        const json m = json_at(runs[i], p.first);
        if (m.is_number()) p.second->push_back(m.get<double>());
      }
    }
    const Stats a = stats(va), f = stats(vf), t = stats(ta);
    Cell n(std::to_string(a.n) + " / " + std::to_string(members[g].size()));
    n.sort = static_cast<double>(a.n);
    Cell ma(pm(a)), mf(pm(f)), mt(pm(t));
    ma.sort = a.mean, mf.sort = f.mean, mt.sort = t.mean;
    rows.push_back({g, n, ma, num_cell(a.n ? json(a.min) : json()),
                    num_cell(a.n ? json(a.max) : json()), mf, mt,
                    num_cell(t.n ? json(t.min) : json()), num_cell(t.n ? json(t.max) : json())});
    row_cls.push_back(a.n < members[g].size() ? "bad" : "");
  }
  b << "<h2>Groups</h2><p>n = completed / runs; click a column to sort. A highlighted row has "
       "runs that did not complete.</p>"
    << table({"group", "n", "val_acc mean \u00b1 std", "min", "max", "val_f1 mean \u00b1 std",
              "test_acc mean \u00b1 std", "min", "max"},
             rows, "sortable", row_cls);
  rows.clear();
  row_cls.clear();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& r = runs[i];
    std::string ov;
    for (const auto& x : r.value("overrides", json::array()))
      ov += (ov.empty() ? "" : " ") + text(x);
    rows.push_back({text(json_at(r, "run_id")), ov, text(json_at(r, "status")),
                    num_cell(json_at(r, "val_acc")), num_cell(json_at(r, "test_acc")),
                    text(json_at(r, "state_hash")),
                    loaded[i] ? verification_status(records[i])["text"].get<std::string>()
                              : std::string("-")});
    row_cls.push_back(completed(i) ? "" : "bad");
  }
  b << "<h2>Runs</h2>"
    << table({"run_id", "overrides", "status", "val_acc", "test_acc", "state_hash", "verification"},
             rows, "sortable", row_cls)
    << "<h2>Base config</h2>" << pre_json(json_at(s, "spec.base"));
  return page("ml-train sweep " + id, b.str(), true);
}

// ------------------------------------------------------ comparison report

std::string label_of(std::size_t i) {
  return i < 26 ? std::string(1, static_cast<char>('A' + i)) : "R" + std::to_string(i + 1);
}

// Rows key | A | B | ... for the keys where any run differs from A.
std::string diff_table(const std::vector<std::map<std::string, json>>& flat,
                       const std::vector<std::string>& head) {
  std::set<std::string> keys;
  for (std::size_t i = 1; i < flat.size(); ++i) {
    for (const auto& kv : flat[0]) {
      auto it = flat[i].find(kv.first);
      if (it == flat[i].end() || it->second != kv.second) keys.insert(kv.first);
    }
    for (const auto& kv : flat[i]) {
      if (!flat[0].count(kv.first)) keys.insert(kv.first);
    }
  }
  if (keys.empty()) return "<p>identical</p>";
  std::vector<std::vector<Cell>> rows;
  for (const auto& k : keys) {
    std::vector<Cell> row = {k};
    const auto a = flat[0].find(k);
    for (std::size_t i = 0; i < flat.size(); ++i) {
      const auto it = flat[i].find(k);
      Cell c(it == flat[i].end() ? "(absent)" : exact(it->second));
      if (i > 0 && (it == flat[i].end()) != (a == flat[0].end())) c.cls = "diff";
      if (i > 0 && it != flat[i].end() && a != flat[0].end() && it->second != a->second) {
        c.cls = "diff";
      }
      row.push_back(c);
    }
    rows.push_back(row);
  }
  return table(head, rows);
}

}  // namespace

std::string render_comparison(const std::vector<std::string>& dirs) {
  if (dirs.size() < 2) fail_usage("report: a comparison needs two or more run directories");
  std::vector<RunRecord> rs;
  for (const auto& d : dirs) {
    if (!is_run_dir(d)) fail_usage(d + ": not an ml-train run directory (no config.json)");
    rs.push_back(load_run(d));
  }
  std::ostringstream b;
  std::vector<std::string> head = {"key"};
  std::string title;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    head.push_back(label_of(i) + " " + rs[i].run_id());
    title += (i ? " vs " : "") + rs[i].run_id();
  }
  b << "<h1>Comparison: " << esc(title) << "</h1>";
  std::vector<std::vector<Cell>> rows;
  std::vector<json> diffs(rs.size());
  std::vector<plot::Marker> markers;
  std::vector<std::string> causes;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    std::string diverges = "reference";
    if (i > 0) {
      diffs[i] = diff_runs(rs[0], rs[i]);
      const json t = diffs[i]["trace"];
      if (t.is_null()) {
        diverges = diffs[i]["identical"].get<bool>() ? "identical to A" : "same trace as A";
      } else {
        const std::int64_t step = t["first_diverging_step"].get<std::int64_t>();
        diverges = "step " + std::to_string(step);
        markers.push_back(
            {static_cast<double>(step), label_of(i) + " differs at " + std::to_string(step)});
      }
      std::string cause;
      const json v = json_at(rs[i].verifications, "verify.divergence.cause.text");
      if (v.is_string()) {
        cause = "verify: " + v.get<std::string>();
      } else if (!diffs[i]["identical"].get<bool>()) {
        const Cause c = likely_cause(diffs[i], rs[0].config, "");
        cause = c.kind + ": " + c.text;
      }
      if (!cause.empty()) causes.push_back(label_of(i) + " vs A \u2014 " + cause);
    }
    rows.push_back({label_of(i), rs[i].run_id(), rs[i].dir, rs[i].status(),
                    num_cell(json_at(rs[i].summary, "val.acc")),
                    num_cell(json_at(rs[i].summary, "test.acc")), rs[i].state_hash(), diverges,
                    verification_status(rs[i])["text"].get<std::string>()});
  }
  b << table({"", "run_id", "dir", "status", "val_acc", "test_acc", "state_hash",
              "first diverging step", "verification"},
             rows);
  if (!causes.empty()) {
    b << "<h2>Likely cause</h2><ul>";
    for (const auto& c : causes) b << "<li>" << esc(c) << "</li>";
    b << "</ul>";
  }
  b << "<h2>Curves</h2><div class='charts'>";
  {
    plot::Chart c{"Training loss per step (moving average)", "step", "loss"};
    for (std::size_t i = 0; i < rs.size(); ++i) {
      add_step_loss(&c, step_curves(rs[i]), label_of(i) + " " + rs[i].run_id(), static_cast<int>(i),
                    false);
    }
    c.markers = markers;
    b << plot::render(c);
  }
  for (const char* key : {"val_acc", "val_loss"}) {
    plot::Chart c{std::string(key) + " per epoch", "epoch", key};
    for (std::size_t i = 0; i < rs.size(); ++i) {
      plot::Series s{label_of(i) + " " + rs[i].run_id()};
      epoch_series(rs[i].metrics, key, &s.x, &s.y);
      s.color = static_cast<int>(i);
      s.points = true;
      s.dashed = i > 0;
      if (!s.x.empty()) c.series.push_back(s);
    }
    b << plot::render(c);
  }
  b << "</div>";
  std::vector<std::map<std::string, json>> cfg(rs.size()), env(rs.size()), rt(rs.size()),
      data(rs.size());
  for (std::size_t i = 0; i < rs.size(); ++i) {
    flatten_json(rs[i].config, "", &cfg[i]);
    flatten_json(rs[i].env, "", &env[i]);
    flatten_json(json_at(rs[i].run, "runtime"), "", &rt[i]);
    const json files = json_at(rs[i].data, "files");
    if (files.is_array()) {
      for (const auto& f : files) {
        data[i][text(json_at(f, "split"))] =
            text(json_at(f, "sha256")).substr(0, 16) + " " + text(json_at(f, "path"));
      }
    }
    const json vocab = json_at(rs[i].data, "vocab.sha256");
    if (!vocab.is_null()) data[i]["vocab"] = vocab;
  }
  b << "<h2>Config keys that differ</h2>" << diff_table(cfg, head)
    << "<h2>Data fingerprints that differ</h2>" << diff_table(data, head)
    << "<h2>Environment fields that differ</h2>" << diff_table(env, head)
    << "<h2>Runtime settings that differ</h2><p>These never change results.</p>"
    << diff_table(rt, head);
  return page("ml-train comparison " + title, b.str());
}

std::string render_index(const std::string& output_dir) {
  if (!is_directory(output_dir)) fail_usage(output_dir + ": not a directory");
  std::vector<RunRecord> runs;
  std::vector<std::string> broken;
  for (const auto& name : list_dir(output_dir)) {
    const std::string dir = join_path(output_dir, name);
    if (name.empty() || name[0] == '.' || !is_run_dir(dir)) continue;
    try {
      runs.push_back(load_run(dir, RunParts::kBrief));
    } catch (const Error& e) {
      broken.push_back(e.what());
    }
  }
  std::vector<json> sweeps;
  const std::string sweeps_dir = join_path(output_dir, layout::kSweepsDir);
  for (const auto& name : list_dir(sweeps_dir)) {
    const std::string f = join_path(join_path(sweeps_dir, name), layout::kSweepFile);
    if (name.empty() || name[0] == '.' || !path_exists(f)) continue;
    try {
      json s = read_sweep_file(f);
      s["dir"] = join_path(sweeps_dir, name);
      sweeps.push_back(s);
    } catch (const Error& e) {
      broken.push_back(e.what());
    }
  }
  if (runs.empty() && sweeps.empty() && broken.empty()) {
    fail_usage(output_dir +
               ": neither a run directory (config.json), a sweep directory (sweep.json) nor an "
               "output directory holding runs");
  }
  // Config keys whose value is not the same in every run become columns.
  std::vector<std::map<std::string, json>> flat(runs.size());
  std::map<std::string, std::set<std::string>> values;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    flatten_json(runs[i].config, "", &flat[i]);
    for (const auto& kv : flat[i]) values[kv.first].insert(kv.second.dump());
  }
  std::vector<std::string> varying;
  for (const auto& kv : values) {
    bool everywhere = true;
    for (const auto& f : flat) everywhere = everywhere && f.count(kv.first);
    if (kv.second.size() > 1 || !everywhere) varying.push_back(kv.first);
  }
  std::ostringstream b;
  std::size_t completed = 0, verified = 0;
  std::vector<std::vector<Cell>> rows;
  std::vector<std::string> row_cls;
  rows.reserve(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunRecord& r = runs[i];
    const json v = verification_status(r);
    const std::string status = r.status().empty() ? "?" : r.status();
    completed += status == "completed";
    verified += v["verified"].get<std::int64_t>() > 0;
    std::vector<Cell> row = {r.dir.substr(r.dir.rfind('/') + 1), status};
    for (const auto& k : varying) {
      const auto it = flat[i].find(k);
      if (it == flat[i].end()) {
        row.push_back("");
      } else if (it->second.is_number()) {
        Cell c(exact(it->second));
        c.sort = it->second.get<double>();
        c.cls = "num";
        row.push_back(c);
      } else {
        row.push_back(exact(it->second));
      }
    }
    row.push_back(num_cell(json_at(r.summary, "val.acc")));
    row.push_back(num_cell(json_at(r.summary, "val.f1")));
    row.push_back(num_cell(json_at(r.summary, "test.acc")));
    Cell steps(text(json_at(r.summary, "steps")));
    if (json_at(r.summary, "steps").is_number()) steps.sort = json_at(r.summary, "steps");
    row.push_back(steps);
    row.push_back(r.state_hash());
    Cell vc(v["text"].get<std::string>());
    vc.cls = !v["diverged_step"].is_null()           ? "err"
             : v["verified"].get<std::int64_t>() > 0 ? "ok"
                                                     : "";
    row.push_back(vc);
    rows.push_back(std::move(row));
    row_cls.push_back(status == "completed" ? "" : "bad");
  }
  std::vector<std::string> head = {"run", "status"};
  head.insert(head.end(), varying.begin(), varying.end());
  head.insert(head.end(), {"val_acc", "val_f1", "test_acc", "steps", "state_hash", "verification"});
  // The first rows are in the HTML (readable without a script, printable);
  // all rows are also in a JSON block that the script pages, sorts and
  // filters, so that the page opens fast whatever the number of runs.
  constexpr std::size_t kPage = 200;
  json data = json::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    json r = json::array({row_cls[i]});
    for (const Cell& c : rows[i]) {
      if (c.cls.empty() && std::isnan(c.sort)) {
        r.push_back(c.text);
      } else {
        r.push_back(json::array({c.text, std::isnan(c.sort) ? json() : json(c.sort), c.cls}));
      }
    }
    data.push_back(std::move(r));
  }
  std::string data_text = data.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string safe;  // "<" never closes the script element inside a JSON string
  safe.reserve(data_text.size());
  for (char ch : data_text) safe += ch == '<' ? std::string("\\u003c") : std::string(1, ch);
  const std::size_t first = std::min(kPage, rows.size());
  b << "<h1>Runs in " << esc(output_dir) << "</h1><p>" << runs.size() << " runs (" << completed
    << " completed, " << verified << " verified), " << sweeps.size()
    << " sweeps. Columns: the config keys that vary between runs. Click a column to sort.</p>"
    << "<p><input id='filter' type='search' placeholder='filter rows (any text)' "
       "aria-label='filter'> <span id='shown'>"
    << first << " of " << runs.size() << "</span> shown</p>"
    << table(head, std::vector<std::vector<Cell>>(rows.begin(), rows.begin() + first), "index",
             std::vector<std::string>(row_cls.begin(), row_cls.begin() + first))
    << "<p><button id='more' type='button'" << (rows.size() > first ? "" : " style='display:none'")
    << ">show " << kPage << " more</button></p>"
    << "<script type='application/json' id='rows'>" << safe << "</script>";
  if (!sweeps.empty()) {
    std::vector<std::vector<Cell>> srows;
    for (const json& s : sweeps) {
      const json sr = s.value("runs", json::array());
      std::size_t done = 0;
      for (const auto& r : sr) done += text(json_at(r, "status")) == "completed";
      std::string best;
      double best_acc = -1;
      for (const auto& g : s.value("groups", json::array())) {
        const json m = json_at(g, "val_acc.mean");
        if (m.is_number() && m.get<double>() > best_acc) {
          best_acc = m.get<double>();
          best = text(json_at(g, "group")) + ": " + fixed_decimals(best_acc) + " \u00b1 " +
                 fixed_or_dash(json_at(g, "val_acc.std"));
        }
      }
      srows.push_back({text(json_at(s, "sweep_id")), std::to_string(sr.size()),
                       std::to_string(done), best, text(json_at(s, "dir"))});
    }
    b << "<h2>Sweeps</h2>"
      << table({"sweep", "runs", "completed", "best group (val_acc)", "dir"}, srows, "sortable");
  }
  if (!broken.empty()) {
    b << "<h2>Unreadable</h2><ul>";
    for (const auto& e : broken) b << "<li>" << esc(e) << "</li>";
    b << "</ul>";
  }
  return page("ml-train runs in " + output_dir, b.str(), true, kIndexScript);
}

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
  if (path_exists(sweep_file)) return sweep_report(read_sweep_file(sweep_file));
  if (is_run_dir(dir)) return run_report(load_run(dir));
  if (!is_directory(dir)) fail_usage(dir + ": no such directory");
  return render_index(dir);
}

}  // namespace mltrain
