// report: the page of a sweep (curves per group with a band of one standard
// deviation, final metrics against each varied key, groups and runs tables).
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "core/format.h"
#include "experiment/plot.h"
#include "experiment/report_common.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"

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

}  // namespace report
}  // namespace mltrain
