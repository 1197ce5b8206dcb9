// runs: the run directories under an output directory, filtered and sorted
// by their identity and by whatever metrics they recorded (metrics.h).
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "core/fs.h"
#include "experiment/flatten.h"
#include "experiment/metrics.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

// Metric columns the text table shows unless asked for more.
constexpr std::size_t kTextMetrics = 6;
// Config columns (keys whose value differs between the listed runs), and
// the most characters of a value they show.
constexpr std::size_t kTextConfigKeys = 3;
constexpr std::size_t kTextConfigWidth = 24;

// row[key], or null when row is not an object or has no such key.
json field(const json& row, const std::string& key) {
  return row.is_object() && row.contains(key) ? row[key] : json();
}

std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : json_line(v); }

// Does identity value v equal the text given on the command line?
bool value_matches(const json& v, const std::string& text) {
  if (v.is_string()) return v.get<std::string>() == text;
  if (v.is_null()) return text == "null" || text == "~" || text.empty();
  if (v.is_boolean()) {
    return (text == "true" || text == "false") && (text == "true") == v.get<bool>();
  }
  if (v.is_number()) {
    char* end = nullptr;
    const double d = std::strtod(text.c_str(), &end);
    return end != text.c_str() && *end == '\0' && d == v.get<double>();
  }
  return false;
}

// One --where: KEY=VALUE, KEY!=VALUE (the identity), or NAME<X, NAME<=X,
// NAME>X, NAME>=X (a metric, or a numeric identity value).
struct Filter {
  std::string text, key, op, value;
  double number = 0;
  bool numeric = false;  // value parsed as a number
};

Filter parse_filter(const std::string& w) {
  Filter f;
  f.text = w;
  const std::size_t p = w.find_first_of("<>!=");
  if (p == std::string::npos || p == 0) {
    fail_usage("--where '" + w +
               "': expected KEY=VALUE or KEY!=VALUE (the config), or METRIC<X, <=, >, >= X "
               "(e.g. val_loss<0.5)");
  }
  const bool two = p + 1 < w.size() && w[p + 1] == '=' && w[p] != '=';
  f.key = w.substr(0, p);
  f.op = w.substr(p, two ? 2 : 1);
  if (f.op == "!") fail_usage("--where '" + w + "': expected != (or =, <, <=, >, >=)");
  f.value = w.substr(p + f.op.size());
  if (f.key.rfind("runtime.", 0) == 0) {
    fail_usage("--where '" + w + "': runtime.* keys are not part of a run's identity");
  }
  char* end = nullptr;
  f.number = std::strtod(f.value.c_str(), &end);
  f.numeric = !f.value.empty() && end != f.value.c_str() && *end == '\0';
  const bool ordered = f.op != "=" && f.op != "!=";
  if (ordered && !f.numeric) {
    fail_usage("--where '" + w + "': expected a number after '" + f.op + "'");
  }
  return f;
}

bool compare(double x, const std::string& op, double y) {
  if (op == "<") return x < y;
  if (op == "<=") return x <= y;
  if (op == ">") return x > y;
  if (op == ">=") return x >= y;
  if (op == "=") return x == y;
  return x != y;  // "!="
}

// "--sort NAME" or "--sort NAME:asc|desc".
struct SortKey {
  std::string name;
  std::string order;  // "", "asc" or "desc"
};

SortKey parse_sort(const std::string& s) {
  SortKey k;
  const auto colon = s.rfind(':');
  k.name = s.substr(0, colon);
  if (colon != std::string::npos) k.order = s.substr(colon + 1);
  if (k.name.empty() || (colon != std::string::npos && k.order != "asc" && k.order != "desc")) {
    fail_usage("--sort '" + s + "': expected METRIC, METRIC:asc or METRIC:desc");
  }
  return k;
}

// "val_loss, val_acc, ... (12 more)".
std::string name_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 12; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 12) out += ", ... (" + std::to_string(names.size() - 12) + " more)";
  return out.empty() ? "none" : out;
}

// The error for a metric name no run recorded.
[[noreturn]] void unknown_metric(const std::string& what, const std::string& name,
                                 const std::vector<std::string>& known) {
  const std::string s = closest_name(name, known);
  fail_usage(what + ": no run records the metric '" + name + "'" +
             (s.empty() ? "" : " (did you mean '" + s + "'?)") +
             "; metrics recorded: " + name_list(known));
}

// A run's row: who it is and what it recorded.
json row_of(const std::string& name, const std::string& dir, const RunRecord& r) {
  json row = {{"run_id", name},
              {"dir", dir},
              {"status", r.status().empty() ? "?" : r.status()},
              {"seed", json_at(r.config, "seed")},
              {"deterministic", json_at(r.config, "deterministic")},
              {"config", r.config},
              {"steps", json_at(r.summary, "steps")},
              {"state_hash", r.state_hash()},
              {"verification", verification_status(r)["text"]}};
  put_metrics(run_metrics(r), declared_directions(r), &row);
  return row;
}

// The metric columns of rows (list_runs's), directions included.
MetricColumns columns_of(const json& rows) {
  MetricColumns c;
  for (const auto& r : rows) {
    c.add(row_metrics(r), field(r, kMetricDirections));
  }
  return c;
}

// Config keys (dotted) whose value differs between rows or is missing from
// some, without seed and deterministic (columns of their own).
std::vector<std::string> varying_config_keys(const json& rows) {
  std::vector<std::map<std::string, json>> flat;
  std::map<std::string, std::set<std::string>> values;
  for (const auto& r : rows) {
    flat.emplace_back();
    if (r.is_object() && r.contains("config")) flatten_json(r["config"], "", &flat.back());
    for (const auto& kv : flat.back()) values[kv.first].insert(kv.second.dump());
  }
  std::vector<std::string> out;
  for (const auto& kv : values) {
    if (kv.first == "seed" || kv.first == "deterministic") continue;
    bool everywhere = true;
    for (const auto& f : flat) everywhere = everywhere && f.count(kv.first);
    if (kv.second.size() > 1 || !everywhere) out.push_back(kv.first);
  }
  return out;
}

// A text table: columns as wide as their widest cell, two spaces apart, no
// trailing blanks.
std::string text_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  auto chars = [](const std::string& s) {  // UTF-8 code points, for "verified 3×"
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], chars(r[i]));
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - chars(r[i]) + 2, ' ');
    }
    out += line.substr(0, line.find_last_not_of(' ') + 1) + "\n";
  }
  return out;
}

}  // namespace

json list_runs(const std::string& output_dir, const std::vector<std::string>& where,
               const std::string& sort_by) {
  std::vector<Filter> filters;
  for (const auto& w : where) filters.push_back(parse_filter(w));
  const SortKey sort = sort_by.empty() ? SortKey() : parse_sort(sort_by);
  if (!is_directory(output_dir)) fail_usage(output_dir + ": no such output directory");

  json all = json::array();
  for (const auto& name : list_dir(output_dir)) {
    const std::string dir = join_path(output_dir, name);
    if (name[0] == '.' || !is_run_dir(dir)) continue;
    try {
      all.push_back(row_of(name, dir, load_run(dir, RunParts::kBrief)));
    } catch (const Error&) {
      continue;  // not a run we can read; list_runs only reports
    }
  }
  MetricColumns metrics = columns_of(all);

  // A filter names a config key (KEY=VALUE) or a metric; which one is
  // decided over every run, not only those the other filters keep.
  std::set<std::string> config_keys_seen;
  for (const auto& r : all) {
    std::map<std::string, json> flat;
    flatten_json(field(r, "config"), "", &flat);
    for (const auto& kv : flat) config_keys_seen.insert(kv.first);
  }
  const auto& known = config_keys();
  std::vector<bool> on_metric;
  for (const Filter& f : filters) {
    const bool config_key = config_keys_seen.count(f.key) ||
                            std::find(known.begin(), known.end(), f.key) != known.end();
    const bool ordered = f.op != "=" && f.op != "!=";
    if (metrics.has(f.key) && (ordered || !config_key)) {
      if (!f.numeric) {
        fail_usage("--where '" + f.text + "': " + f.key + " is a metric; expected a number");
      }
      on_metric.push_back(true);
    } else if (config_key) {
      on_metric.push_back(false);
    } else if (ordered) {
      unknown_metric("--where '" + f.text + "'", f.key, metrics.names());
    } else {
      std::string s = suggest_key(f.key);
      if (s.empty()) s = closest_name(f.key, metrics.names());
      fail_usage("--where '" + f.text + "': no run has the config key or metric '" + f.key + "'" +
                 (s.empty() ? "" : " (did you mean '" + s + "'?)"));
    }
  }

  json rows = json::array();
  for (const auto& r : all) {
    bool keep = true;
    for (std::size_t i = 0; i < filters.size() && keep; ++i) {
      const Filter& f = filters[i];
      if (on_metric[i]) {
        const json v = field(field(r, "metrics"), f.key);
        keep = v.is_number() && compare(v.get<double>(), f.op, f.number);
      } else if (f.op == "=" || f.op == "!=") {
        keep = value_matches(json_at(field(r, "config"), f.key), f.value) == (f.op == "=");
      } else {
        const json v = json_at(field(r, "config"), f.key);
        keep = v.is_number() && compare(v.get<double>(), f.op, f.number);
      }
    }
    if (keep) rows.push_back(r);
  }

  if (sort.name.empty() || sort.name == "run_id") {
    if (sort.order == "desc") std::reverse(rows.begin(), rows.end());
    return rows;  // list_dir's order: by run id
  }
  if (sort.name != "steps" && !metrics.has(sort.name) && !all.empty()) {
    std::vector<std::string> sortable = metrics.names();
    sortable.insert(sortable.end(), {"steps", "run_id"});
    unknown_metric("--sort " + sort_by, sort.name, sortable);
  }
  if (!sort.order.empty()) metrics.set_direction(sort.name, sort.order == "asc");
  const bool ascending =
      sort.name == "steps" ? sort.order == "asc" : metrics.lower_is_better(sort.name);
  auto value = [&](const json& r) {
    return sort.name == "steps" ? field(r, "steps") : field(field(r, "metrics"), sort.name);
  };
  // Best first; runs without the value last, in run id order.
  std::stable_sort(rows.begin(), rows.end(), [&](const json& a, const json& b) {
    const json x = value(a), y = value(b);
    if (!x.is_number()) return false;
    if (!y.is_number()) return true;
    return ascending ? x.get<double>() < y.get<double>() : x.get<double>() > y.get<double>();
  });
  return rows;
}

std::string format_runs(const json& rows, const std::vector<std::string>& first) {
  const MetricColumns metrics = columns_of(rows);
  std::vector<std::string> shown;
  for (const auto& m : first) {
    if (!rows.empty() && !metrics.has(m)) unknown_metric("--metrics", m, metrics.names());
    if (std::find(shown.begin(), shown.end(), m) == shown.end()) shown.push_back(m);
  }
  std::vector<std::string> hidden;
  for (const auto& m : metrics.names()) {
    if (std::find(shown.begin(), shown.end(), m) != shown.end()) continue;
    (shown.size() < std::max(kTextMetrics, first.size()) ? shown : hidden).push_back(m);
  }
  std::vector<std::string> keys = varying_config_keys(rows);
  if (keys.size() > kTextConfigKeys) keys.resize(kTextConfigKeys);

  std::vector<std::vector<std::string>> table;
  std::vector<std::string> head = {"run_id", "status", "seed", "det"};
  head.insert(head.end(), keys.begin(), keys.end());
  head.insert(head.end(), shown.begin(), shown.end());
  head.insert(head.end(), {"steps", "verification", "state_hash"});
  table.push_back(head);
  for (const auto& r : rows) {
    const json det = field(r, "deterministic");
    std::vector<std::string> line = {str(field(r, "run_id")), str(field(r, "status")),
                                     json_text(field(r, "seed")),
                                     det.is_boolean() ? (det.get<bool>() ? "true" : "false") : "-"};
    for (const auto& k : keys) {
      const json v = json_at(field(r, "config"), k);
      std::string t = v.is_null() ? "-" : v.is_string() ? v.get<std::string>() : json_line(v);
      // A long value (a path) keeps its end, the part that tells runs apart.
      if (t.size() > kTextConfigWidth) t = "..." + t.substr(t.size() - (kTextConfigWidth - 3));
      line.push_back(t);
    }
    const json m = field(r, "metrics");
    for (const auto& k : shown) line.push_back(metric_text(field(m, k)));
    line.push_back(json_text(field(r, "steps")));
    line.push_back(json_text(field(r, "verification")));
    const std::string hash = str(field(r, "state_hash"));
    line.push_back(hash.empty() ? "-" : hash);
    table.push_back(line);
  }
  std::string out = text_table(table);
  if (!hidden.empty()) {
    out += std::to_string(hidden.size()) + " more metric" + (hidden.size() == 1 ? "" : "s") +
           " not shown (" + name_list(hidden) + "): --metrics NAME,... or --json / --csv\n";
  }
  return out + std::to_string(rows.size()) + " run" + (rows.size() == 1 ? "" : "s") + "\n";
}

std::string format_runs_csv(const json& rows) {
  const MetricColumns metrics = columns_of(rows);
  const std::vector<std::string> keys = varying_config_keys(rows);
  auto cell = [](const json& v) -> std::string {
    if (v.is_null()) return "";
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  // Fixed columns, the varying config keys, the metrics, then the rest.
  std::vector<std::string> head = {"run_id", "status", "seed", "deterministic"};
  std::set<std::string> taken(head.begin(), head.end());
  taken.insert({"steps", "state_hash", "verification", "dir"});
  for (const auto& k : keys) {
    head.push_back(taken.count(k) ? "config." + k : k);
    taken.insert(head.back());
  }
  for (const auto& m : metrics.names()) head.push_back(taken.count(m) ? "metrics." + m : m);
  head.insert(head.end(), {"steps", "state_hash", "verification", "dir"});

  std::string out;
  for (std::size_t i = 0; i < head.size(); ++i) out += (i ? "," : "") + cell(head[i]);
  out += "\n";
  for (const auto& r : rows) {
    std::vector<json> cells = {field(r, "run_id"), field(r, "status"), field(r, "seed"),
                               field(r, "deterministic")};
    for (const auto& k : keys) cells.push_back(json_at(field(r, "config"), k));
    for (const auto& m : metrics.names()) cells.push_back(field(field(r, "metrics"), m));
    for (const char* c : {"steps", "state_hash", "verification", "dir"}) {
      cells.push_back(field(r, c));
    }
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) line += (i ? "," : "") + cell(cells[i]);
    out += line + "\n";
  }
  return out;
}

}  // namespace mltrain
