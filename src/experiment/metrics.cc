// The metric model of the experiment tools (metrics.h).
#include "experiment/metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "mltrain/format.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

// The parts of a name: "val_mse" -> {"val", "mse"}.
std::vector<std::string> name_parts(const std::string& name) {
  std::vector<std::string> parts(1);
  for (char c : name) {
    if (c == '_' || c == '.' || c == '-' || c == '/' || c == ' ') {
      if (!parts.back().empty()) parts.emplace_back();
    } else {
      parts.back() += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (parts.back().empty()) parts.pop_back();
  return parts;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// 0 validation split, 1 no split named, 2 test, 3 train.
int split_rank(const std::string& name) {
  const std::vector<std::string> parts = name_parts(name);
  const std::string first = parts.empty() ? "" : parts[0];
  if (first == "val" || first == "valid" || first == "validation" || first == "dev" ||
      first == "eval") {
    return 0;
  }
  if (first == "test") return 2;
  if (first == "train" || first == "training") return 3;
  return 1;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// A declared direction: 1 lower is better, 0 higher, -1 not a direction.
int parse_direction(const json& v) {
  if (v == "lower" || v == "min" || v == "minimize") return 1;
  if (v == "higher" || v == "max" || v == "maximize") return 0;
  return -1;
}

}  // namespace

bool is_bookkeeping(const std::string& name) {
  static const char* kRecordedByRun[] = {"run_id", "state_hash", "state_sha256", "steps",
                                         "epochs", "epoch",      "step",         "model_file"};
  for (const char* k : kRecordedByRun) {
    if (name == k) return true;
  }
  if (name == kMetricDirections || ends_with(name, "seconds")) return true;
  const std::vector<std::string> parts = name_parts(name);
  const std::string last = parts.empty() ? "" : parts.back();
  return last == "n" || last == "count" || last == "lr";
}

void collect_metrics(const json& object, const std::string& prefix,
                     std::map<std::string, double>* out) {
  if (!object.is_object()) return;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (prefix.empty() && it.key() == kMetricDirections) continue;
    const std::string name = prefix.empty() ? it.key() : prefix + "_" + it.key();
    const json& v = it.value();
    if (v.is_object()) {
      collect_metrics(v, name, out);
    } else if (v.is_number() && std::isfinite(v.get<double>()) && !is_bookkeeping(name) &&
               !out->count(name)) {
      (*out)[name] = v.get<double>();
    }
  }
}

json declared_directions(const RunRecord& run) {
  json out = json::object();
  const json d = run.summary.is_object() && run.summary.contains(kMetricDirections)
                     ? run.summary[kMetricDirections]
                     : json();
  if (!d.is_object()) return out;
  for (auto it = d.begin(); it != d.end(); ++it) {
    const int lower = parse_direction(it.value());
    if (lower >= 0) out[it.key()] = lower ? "lower" : "higher";
  }
  return out;
}

json run_metrics(const RunRecord& run) {
  std::map<std::string, double> m;
  // The summary first: its value of a name wins over the last epoch's.
  collect_metrics(run.summary, "", &m);
  if (!run.metrics.empty()) collect_metrics(run.metrics.back(), "", &m);
  json out = json::object();
  for (const auto& kv : m) out[kv.first] = kv.second;
  return out;
}

bool lower_is_better_by_name(const std::string& name) {
  // Words that name an error or a cost wherever they appear ("logloss",
  // "val_rmse", "mean_abs_error") ...
  static const char* kAnywhere[] = {"loss",    "error",      "mse",        "mae",
                                    "mape",    "msle",       "perplexity", "regret",
                                    "latency", "divergence", "distance"};
  // ... and short ones only as a whole part ("val_err", "test_ppl").
  static const char* kWholePart[] = {"err", "ppl", "nll", "wer", "cer", "ter", "bpc",
                                     "bpb", "bpd", "kl",  "eer", "fpr", "fnr", "cost"};
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : kAnywhere) {
    if (lower.find(w) != std::string::npos) return true;
  }
  for (const std::string& p : name_parts(name)) {
    for (const char* w : kWholePart) {
      if (p == w) return true;
    }
  }
  return false;
}

std::string metric_text(double v) {
  if (v == 0 || (std::fabs(v) >= 0.1 && std::fabs(v) < 1e6)) return fixed_decimals(v, 4);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#.4g", v);
  return buf;
}

std::string metric_text(const json& v) {
  return v.is_number() ? metric_text(v.get<double>()) : "-";
}

std::string metric_pm(double mean, double std, const std::string& pm) {
  const bool fixed = mean == 0 || (std::fabs(mean) >= 0.1 && std::fabs(mean) < 1e6);
  return metric_text(mean) + pm + (fixed ? fixed_decimals(std, 4) : metric_text(std));
}

std::string closest_name(const std::string& name, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, name.size() / 3) + 1;
  for (const auto& k : known) {
    const std::size_t d = edit_distance(name, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

void sort_metric_names(std::vector<std::string>* names) {
  std::stable_sort(names->begin(), names->end(), [](const std::string& a, const std::string& b) {
    const int ra = split_rank(a), rb = split_rank(b);
    return ra != rb ? ra < rb : a < b;
  });
}

void MetricColumns::add(const json& metrics, const json& declared) {
  bool added = false;
  if (metrics.is_object()) {
    for (auto it = metrics.begin(); it != metrics.end(); ++it) {
      if (seen_.insert(it.key()).second) {
        names_.push_back(it.key());
        added = true;
      }
    }
  }
  if (added) sort_metric_names(&names_);
  if (declared.is_object()) {
    for (auto it = declared.begin(); it != declared.end(); ++it) {
      const int lower = parse_direction(it.value());
      if (!declared_.count(it.key()) && lower >= 0) declared_[it.key()] = lower == 1;
    }
  }
}

void MetricColumns::set_direction(const std::string& name, bool lower) {
  overridden_[name] = lower;
}

bool MetricColumns::lower_is_better(const std::string& name) const {
  auto o = overridden_.find(name);
  if (o != overridden_.end()) return o->second;
  auto d = declared_.find(name);
  if (d != declared_.end()) return d->second;
  return lower_is_better_by_name(name);
}

std::string MetricColumns::direction_text(const std::string& name) const {
  const std::string dir = lower_is_better(name) ? "lower is better" : "higher is better";
  if (overridden_.count(name)) return dir + " (as asked)";
  if (declared_.count(name)) return dir + " (declared by the run)";
  return dir + " (from the name)";
}

void put_metrics(const json& metrics, const json& declared, json* row) {
  (*row)["metrics"] = metrics.is_object() ? metrics : json::object();
  if (declared.is_object() && !declared.empty()) (*row)[kMetricDirections] = declared;
  for (auto it = (*row)["metrics"].begin(); it != (*row)["metrics"].end(); ++it) {
    if (!row->contains(it.key())) (*row)[it.key()] = it.value();
  }
}

json row_metrics(const json& row) {
  if (!row.is_object()) return json::object();
  if (row.contains("metrics") && row["metrics"].is_object()) return row["metrics"];
  json out = json::object();
  for (auto it = row.begin(); it != row.end(); ++it) {
    const std::string& k = it.key();
    if (k != "exit_code" && k != "seed" && !is_bookkeeping(k) && it.value().is_number()) {
      out[k] = it.value();
    }
  }
  return out;
}

}  // namespace mltrain
