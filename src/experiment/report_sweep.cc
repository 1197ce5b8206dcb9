// report: the page of a sweep (curves per group with a band of one standard
// deviation, final metrics against each varied key, groups and runs tables).
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "experiment/metrics.h"
#include "experiment/plot.h"
#include "experiment/report_common.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/format.h"

namespace mltrain {
namespace report {
namespace {

using json = nlohmann::json;

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

std::string pm(const Stats& s) { return s.n == 0 ? "-" : metric_pm(s.mean, s.std, " \u00b1 "); }

// Charts: per-epoch curves of at most this many metrics, and final values
// against each varied key of at most this many (the first in display order).
constexpr std::size_t kCurveCharts = 6;
constexpr std::size_t kFinalCharts = 3;

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

}  // namespace

// `s` has passed read_sweep_file: runs and groups are lists of objects.
std::string sweep_page(const json& s) {
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
  // The final metrics the sweep's runs recorded (its rows), and the
  // per-epoch ones (their metrics.jsonl), in display order.
  MetricColumns finals;
  std::vector<json> row_values;
  for (const auto& r : runs) {
    row_values.push_back(row_metrics(r));
    finals.add(row_values.back(), json_at(r, kMetricDirections));
  }
  std::vector<json> epoch_lines;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (loaded[i] && completed(i)) {
      epoch_lines.insert(epoch_lines.end(), records[i].metrics.begin(), records[i].metrics.end());
    }
  }
  std::vector<std::string> per_epoch = metric_keys(epoch_lines);
  if (per_epoch.size() > kCurveCharts) per_epoch.resize(kCurveCharts);
  std::vector<std::string> against = finals.names();
  if (against.size() > kFinalCharts) against.resize(kFinalCharts);
  std::size_t n_done = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) n_done += completed(i) ? 1 : 0;
  b << "<h1>Sweep " << esc(id) << "</h1><p>" << runs.size() << " runs, " << n_done << " completed";
  if (n_done < runs.size()) b << ", <span class='err'>" << runs.size() - n_done << " not</span>";
  b << ". Groups are the combinations of the non-seed keys; curves are the mean over the "
       "group's completed runs with a band of \u00b1 one sample standard deviation.</p>";

  b << "<h2>Curves</h2><div class='charts'>";
  for (const std::string& key : per_epoch) {
    plot::Chart c{key + " per epoch (mean \u00b1 std over seeds)", "epoch", key};
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
  // Final metrics against each varied key: mean +- std over seeds, one line
  // per combination of the other keys.
  for (const std::string& metric : against) {
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
        const std::string line = rest.empty() ? "final " + metric : rest;
        if (std::find(lines.begin(), lines.end(), line) == lines.end()) lines.push_back(line);
        const json m = row_values[i].value(metric, json());
        if (completed(i) && m.is_number()) acc[{line, v}].push_back(m.get<double>());
      }
      plot::Chart c{"final " + metric + " against " + k + " (mean \u00b1 std)", k, metric};
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
  }
  b << "</div>";

  // Groups: n, then mean +- std of every metric; min and max of the
  // headline one (the first in display order).
  const std::vector<std::string>& names = finals.names();
  std::vector<std::vector<Cell>> rows;
  std::vector<std::string> row_cls;
  for (const auto& g : group_names) {
    std::size_t done = 0;
    std::map<std::string, std::vector<double>> values;
    for (std::size_t i : members[g]) {
      if (!completed(i)) continue;
      ++done;
      for (const auto& k : names) {
        const json m = row_values[i].value(k, json());
        if (m.is_number()) values[k].push_back(m.get<double>());
      }
    }
    Cell n(std::to_string(done) + " / " + std::to_string(members[g].size()));
    n.sort = static_cast<double>(done);
    std::vector<Cell> row = {g, n};
    for (std::size_t k = 0; k < names.size(); ++k) {
      const Stats st = stats(values[names[k]]);
      Cell c(pm(st));
      c.sort = st.mean;
      c.cls = "num";
      row.push_back(c);
      if (k == 0) {
        row.push_back(metric_cell(st.n ? json(st.min) : json()));
        row.push_back(metric_cell(st.n ? json(st.max) : json()));
      }
    }
    rows.push_back(row);
    row_cls.push_back(done < members[g].size() ? "bad" : "");
  }
  std::vector<std::string> head = {"group", "n"}, titles = {"", ""};
  for (std::size_t k = 0; k < names.size(); ++k) {
    head.push_back(names[k] + " mean \u00b1 std");
    titles.push_back(finals.direction_text(names[k]));
    if (k == 0) {
      head.insert(head.end(), {"min", "max"});
      titles.insert(titles.end(), {"", ""});
    }
  }
  b << "<h2>Groups</h2><p>n = completed / runs; click a column to sort. A highlighted row has "
       "runs that did not complete.";
  if (!names.empty()) {
    b << " min and max are " << esc(names[0]) << "'s (" << esc(finals.direction_text(names[0]))
      << ").";
  }
  b << "</p>" << table(head, rows, "sortable", row_cls, titles);
  rows.clear();
  row_cls.clear();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& r = runs[i];
    std::string ov;
    for (const auto& x : r.value("overrides", json::array()))
      ov += (ov.empty() ? "" : " ") + text(x);
    std::vector<Cell> row = {text(json_at(r, "run_id")), ov, text(json_at(r, "status"))};
    for (const auto& k : names) row.push_back(metric_cell(row_values[i].value(k, json())));
    row.push_back(text(json_at(r, "state_hash")));
    row.push_back(loaded[i] ? verification_status(records[i])["text"].get<std::string>()
                            : std::string("-"));
    rows.push_back(row);
    row_cls.push_back(completed(i) ? "" : "bad");
  }
  head = {"run_id", "overrides", "status"};
  head.insert(head.end(), names.begin(), names.end());
  head.insert(head.end(), {"state_hash", "verification"});
  b << "<h2>Runs</h2>" << table(head, rows, "sortable", row_cls, direction_titles(head, finals))
    << "<h2>Base config</h2>" << pre_json(json_at(s, "spec.base"));
  return page("ml-train sweep " + id, b.str(), true);
}

}  // namespace report
}  // namespace mltrain
