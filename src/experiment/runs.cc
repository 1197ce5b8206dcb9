// runs: the run directories under an output directory, filtered and sorted.
#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "core/fs.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

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

}  // namespace

json list_runs(const std::string& output_dir, const std::vector<std::string>& where,
               const std::string& sort_by) {
  static const std::set<std::string> kSortable = {"val_acc", "val_f1", "val_loss", "test_acc",
                                                  "test_f1", "steps",  "run_id"};
  if (!sort_by.empty() && !kSortable.count(sort_by)) {
    fail_usage("--sort " + sort_by +
               ": expected one of val_acc, val_f1, val_loss, test_acc, test_f1, steps, run_id");
  }
  std::vector<std::pair<std::string, std::string>> filters;
  for (const auto& w : where) {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) fail_usage("--where '" + w + "': expected KEY=VALUE");
    const std::string key = w.substr(0, eq);
    if (key.rfind("runtime.", 0) == 0) {
      fail_usage("--where '" + w + "': runtime.* keys are not part of a run's identity");
    }
    filters.emplace_back(key, w.substr(eq + 1));
  }
  if (!is_directory(output_dir)) fail_usage(output_dir + ": no such output directory");
  json rows = json::array();
  std::set<std::string> keys_seen;  // to tell a misspelt --where key from a non-matching one
  for (const auto& name : list_dir(output_dir)) {
    const std::string dir = join_path(output_dir, name);
    if (name[0] == '.' || !is_run_dir(dir)) continue;
    RunRecord r;
    try {
      r = load_run(dir, RunParts::kBrief);
    } catch (const Error&) {
      continue;  // not a run we can read; list_runs only reports
    }
    bool keep = true;
    for (const auto& f : filters) {
      const json v = json_at(r.config, f.first);
      if (!v.is_null() || f.second == "null") keys_seen.insert(f.first);
      if (!value_matches(v, f.second)) keep = false;
    }
    if (!keep) continue;
    auto metric = [&](const char* split, const char* k) {
      return json_at(r.summary, std::string(split) + "." + k);
    };
    rows.push_back({{"run_id", name},
                    {"dir", dir},
                    {"status", r.status().empty() ? "?" : r.status()},
                    {"arch", json_at(r.config, "model.arch")},
                    {"seed", json_at(r.config, "seed")},
                    {"deterministic", json_at(r.config, "deterministic")},
                    {"val_acc", metric("val", "acc")},
                    {"val_f1", metric("val", "f1")},
                    {"val_loss", metric("val", "loss")},
                    {"test_acc", metric("test", "acc")},
                    {"test_f1", metric("test", "f1")},
                    {"steps", json_at(r.summary, "steps")},
                    {"state_hash", r.state_hash()},
                    {"verification", verification_status(r)["text"]}});
  }
  for (const auto& f : filters) {
    const auto& known = config_keys();
    if (rows.empty() && !keys_seen.count(f.first) &&
        std::find(known.begin(), known.end(), f.first) == known.end()) {
      const std::string s = suggest_key(f.first);
      fail_usage("--where '" + f.first + "=" + f.second + "': no run has the config key '" +
                 f.first + "'" + (s.empty() ? "" : " (did you mean '" + s + "'?)"));
    }
  }
  if (!sort_by.empty() && sort_by != "run_id") {
    const bool ascending = sort_by == "val_loss";
    std::stable_sort(rows.begin(), rows.end(), [&](const json& a, const json& b) {
      const json& x = a[sort_by];
      const json& y = b[sort_by];
      if (!x.is_number()) return false;  // runs without the metric go last
      if (!y.is_number()) return true;
      return ascending ? x.get<double>() < y.get<double>() : x.get<double>() > y.get<double>();
    });
  }
  return rows;
}

std::string format_runs(const json& rows) {
  std::ostringstream o;
  o << std::left << std::setw(10) << "run_id" << std::setw(12) << "status" << std::setw(13)
    << "arch" << std::setw(22) << "seed" << std::setw(8) << "det" << std::setw(9) << "val_acc"
    << std::setw(9) << "val_f1" << std::setw(10) << "test_acc"
    << "state_hash\n";
  for (const auto& r : rows) {
    o << std::setw(10) << str(r["run_id"]) << std::setw(12) << str(r["status"]) << std::setw(13)
      << json_text(r["arch"]) << std::setw(22) << json_text(r["seed"]) << std::setw(8)
      << (r["deterministic"].is_boolean() && r["deterministic"].get<bool>() ? "true" : "false")
      << std::setw(9) << fixed_or_dash(r["val_acc"]) << std::setw(9) << fixed_or_dash(r["val_f1"])
      << std::setw(10) << fixed_or_dash(r["test_acc"]) << str(r["state_hash"]) << "\n";
  }
  o << rows.size() << " run" << (rows.size() == 1 ? "" : "s") << "\n";
  return o.str();
}

std::string format_runs_csv(const json& rows) {
  static const char* kColumns[] = {
      "run_id",   "status",   "arch",    "seed",  "deterministic", "val_acc",      "val_f1",
      "val_loss", "test_acc", "test_f1", "steps", "state_hash",    "verification", "dir"};
  auto cell = [](const json& v) -> std::string {
    if (v.is_null()) return "";
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out;
  for (const char* c : kColumns) out += std::string(out.empty() ? "" : ",") + c;
  out += "\n";
  for (const auto& r : rows) {
    std::string line;
    bool first = true;
    for (const char* c : kColumns) {
      line += (first ? "" : ",") + cell(r.is_object() && r.contains(c) ? r[c] : json(nullptr));
      first = false;
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace mltrain
