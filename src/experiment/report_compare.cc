// report: the comparison page of two or more runs (overlaid curves, the
// first diverging step marked, the config keys, data fingerprints and
// environment fields that differ, each run's verification status).
#include <map>
#include <set>
#include <sstream>

#include "experiment/flatten.h"
#include "experiment/metrics.h"
#include "experiment/plot.h"
#include "experiment/report_common.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

// Per-epoch charts: at most this many metrics.
constexpr std::size_t kCurveCharts = 4;

using report::add_step_loss;
using report::Cell;
using report::direction_titles;
using report::epoch_series;
using report::esc;
using report::exact;
using report::metric_cell;
using report::metric_columns;
using report::metric_keys;
using report::num_cell;
using report::page;
using report::step_curves;
using report::table;
using report::text;

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
  // Every metric any of the runs recorded.
  const MetricColumns metrics = metric_columns(rs);
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
    std::vector<Cell> row = {label_of(i), rs[i].run_id(), rs[i].dir, rs[i].status()};
    const json m = run_metrics(rs[i]);
    for (const auto& k : metrics.names()) row.push_back(metric_cell(m.value(k, json())));
    row.insert(row.end(), {rs[i].state_hash(), diverges,
                           verification_status(rs[i])["text"].get<std::string>()});
    rows.push_back(row);
  }
  std::vector<std::string> columns = {"", "run_id", "dir", "status"};
  columns.insert(columns.end(), metrics.names().begin(), metrics.names().end());
  columns.insert(columns.end(), {"state_hash", "first diverging step", "verification"});
  b << table(columns, rows, "", {}, direction_titles(columns, metrics));
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
  // The per-epoch metrics the runs recorded (the first few in display order).
  std::vector<json> epoch_lines;
  for (const RunRecord& r : rs)
    epoch_lines.insert(epoch_lines.end(), r.metrics.begin(), r.metrics.end());
  std::vector<std::string> per_epoch = metric_keys(epoch_lines);
  if (per_epoch.size() > kCurveCharts) per_epoch.resize(kCurveCharts);
  for (const std::string& key : per_epoch) {
    plot::Chart c{key + " per epoch", "epoch", key};
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

}  // namespace mltrain
