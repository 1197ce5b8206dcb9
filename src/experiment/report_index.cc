// report: the index page of an output directory (one row per run, the config
// keys that vary as columns, all rows in a JSON block the page's script
// pages, sorts and filters; one row per sweep).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "core/fs.h"
#include "experiment/flatten.h"
#include "experiment/metrics.h"
#include "experiment/report_common.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/format.h"
#include "mltrain/layout.h"
#include "run/record_files.h"

namespace mltrain {
namespace {

using json = nlohmann::json;
using report::Cell;
using report::direction_titles;
using report::esc;
using report::exact;
using report::metric_cell;
using report::num_cell;
using report::page;
using report::table;
using report::text;

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

}  // namespace

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
  // Every metric the runs recorded becomes a column.
  std::vector<json> recorded;
  MetricColumns metrics;
  for (const RunRecord& r : runs) {
    recorded.push_back(run_metrics(r));
    metrics.add(recorded.back(), declared_directions(r));
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
    for (const auto& k : metrics.names()) row.push_back(metric_cell(recorded[i].value(k, json())));
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
  head.insert(head.end(), metrics.names().begin(), metrics.names().end());
  head.insert(head.end(), {"steps", "state_hash", "verification"});
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
    << " sweeps. Columns: the config keys that vary between runs, then every metric the runs "
       "recorded (hover a metric's name for its direction). Click a column to sort.</p>"
    << "<p><input id='filter' type='search' placeholder='filter rows (any text)' "
       "aria-label='filter'> <span id='shown'>"
    << first << " of " << runs.size() << "</span> shown</p>"
    << table(head, std::vector<std::vector<Cell>>(rows.begin(), rows.begin() + first), "index",
             std::vector<std::string>(row_cls.begin(), row_cls.begin() + first),
             direction_titles(head, metrics))
    << "<p><button id='more' type='button'" << (rows.size() > first ? "" : " style='display:none'")
    << ">show " << kPage << " more</button></p>"
    << "<script type='application/json' id='rows'>" << safe << "</script>";
  if (!sweeps.empty()) {
    std::vector<std::vector<Cell>> srows;
    for (const json& s : sweeps) {
      const json sr = s.value("runs", json::array());
      std::size_t done = 0;
      for (const auto& r : sr) done += text(json_at(r, "status")) == "completed";
      // The best group by the sweep's headline metric (first in display
      // order), in the direction its runs declare or their names say.
      MetricColumns columns;
      for (const auto& r : sr) columns.add(row_metrics(r), json_at(r, kMetricDirections));
      std::string best;
      if (!columns.empty()) {
        const std::string& k = columns.names()[0];
        const bool lower = columns.lower_is_better(k);
        double best_mean = 0;
        for (const auto& g : s.value("groups", json::array())) {
          const json m = row_metrics(g).value(k, json());
          const json mean = json_at(m, "mean");
          if (!mean.is_number()) continue;
          const double v = mean.get<double>();
          if (best.empty() || (lower ? v < best_mean : v > best_mean)) {
            best_mean = v;
            const json sd = json_at(m, "std");
            best = k + " " + text(json_at(g, "group")) + ": " +
                   metric_pm(v, sd.is_number() ? sd.get<double>() : 0.0, " \u00b1 ");
          }
        }
      }
      srows.push_back({text(json_at(s, "sweep_id")), std::to_string(sr.size()),
                       std::to_string(done), best, text(json_at(s, "dir"))});
    }
    b << "<h2>Sweeps</h2>"
      << table({"sweep", "runs", "completed", "best group (first metric)", "dir"}, srows,
               "sortable");
  }
  if (!broken.empty()) {
    b << "<h2>Unreadable</h2><ul>";
    for (const auto& e : broken) b << "<li>" << esc(e) << "</li>";
    b << "</ul>";
  }
  return page("ml-train runs in " + output_dir, b.str(), true, kIndexScript);
}

}  // namespace mltrain
