// diff: where two runs differ, from their records alone.
#include <algorithm>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "core/fs.h"
#include "experiment/flatten.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

// Metrics without wall-clock fields (*seconds), which legitimately differ.
std::vector<json> comparable_metrics(const std::vector<json>& m) {
  std::vector<json> out;
  for (const json& row : m) {
    json kept = json::object();
    if (row.is_object()) {
      for (auto it = row.begin(); it != row.end(); ++it) {
        const std::string& k = it.key();
        if (k.size() < 7 || k.compare(k.size() - 7, 7, "seconds") != 0) kept[k] = it.value();
      }
    }
    out.push_back(kept);
  }
  return out;
}

std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : json_line(v); }

json field(const json& row, const char* key) {
  return row.is_object() && row.contains(key) ? row[key] : json(nullptr);
}

// Data fingerprints by split.
std::map<std::string, json> files_by_split(const json& data) {
  std::map<std::string, json> m;
  const json files = json_at(data, "files");
  if (!files.is_array()) return m;
  for (const auto& f : files) {
    if (f.is_object()) m[str(field(f, "split"))] = f;
  }
  return m;
}

json file_brief(const json& f) {
  if (f.is_null()) return nullptr;
  return {{"path", field(f, "path")}, {"sha256", field(f, "sha256")}, {"rows", field(f, "rows")}};
}

}  // namespace

void flatten_json(const json& j, const std::string& prefix, std::map<std::string, json>* out) {
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      flatten_json(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    }
  } else if (!prefix.empty()) {
    (*out)[prefix] = j;
  }
}

TraceDivergence first_trace_divergence(const std::vector<json>& a, const std::vector<json>& b) {
  TraceDivergence d;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    for (const char* f : {"step", "loss", "lr", "state"}) {
      const json va = field(a[i], f);
      const json vb = field(b[i], f);
      // State hashes are recorded every runtime.trace_every steps, which is
      // an execution setting: compare them where both traces have one.
      if (std::string(f) == "state" && (va.is_null() || vb.is_null())) continue;
      if (va != vb) {
        const json step = field(a[i], "step");
        d.step =
            step.is_number_integer() ? step.get<std::int64_t>() : static_cast<std::int64_t>(i + 1);
        d.field = f;
        d.a = str(va);
        d.b = str(vb);
        return d;
      }
    }
    if (!field(a[i], "state").is_null() && !field(b[i], "state").is_null()) {
      d.last_equal_state = field(a[i], "step").is_number_integer()
                               ? field(a[i], "step").get<std::int64_t>()
                               : static_cast<std::int64_t>(i + 1);
    }
  }
  if (a.size() != b.size()) {
    d.step = static_cast<std::int64_t>(n + 1);
    d.field = "length";
    d.a = std::to_string(a.size()) + " steps";
    d.b = std::to_string(b.size()) + " steps";
  }
  return d;
}

json json_diff(const json& a, const json& b) {
  std::map<std::string, json> fa, fb;
  flatten_json(a, "", &fa);
  flatten_json(b, "", &fb);
  std::set<std::string> keys;
  for (const auto& kv : fa) keys.insert(kv.first);
  for (const auto& kv : fb) keys.insert(kv.first);
  json out = json::array();
  for (const auto& k : keys) {
    json va = fa.count(k) ? fa[k] : json(nullptr);
    json vb = fb.count(k) ? fb[k] : json(nullptr);
    if (va != vb) out.push_back({{"key", k}, {"a", va}, {"b", vb}});
  }
  return out;
}

std::string compare_results(const RunRecord& ref, const RunRecord& run) {
  std::vector<std::string> what;
  if (comparable_metrics(ref.metrics) != comparable_metrics(run.metrics)) what.push_back("metrics");
  if (first_trace_divergence(ref.trace, run.trace).step >= 0) what.push_back("trace");
  if (ref.state_sha256().empty() || ref.state_sha256() != run.state_sha256()) {
    what.push_back("state hash");
  }
  std::string out;
  for (const auto& w : what) out += (out.empty() ? "" : ", ") + w;
  return out;
}

json diff_runs(const RunRecord& a, const RunRecord& b) {
  json d;
  d["a"] = a.dir;
  d["b"] = b.dir;
  d["config"] = json_diff(a.config, b.config);
  d["runtime"] = json_diff(json_at(a.run, "runtime"), json_at(b.run, "runtime"));
  d["env"] = json_diff(a.env, b.env);
  // Data: compare fingerprints by split, not by path.
  json data = json::array();
  auto fa = files_by_split(a.data), fb = files_by_split(b.data);
  for (const auto& kv : fa) {
    const json other = fb.count(kv.first) ? fb[kv.first] : json(nullptr);
    if (other.is_null() || field(kv.second, "sha256") != field(other, "sha256")) {
      data.push_back({{"split", kv.first}, {"a", file_brief(kv.second)}, {"b", file_brief(other)}});
    }
  }
  for (const auto& kv : fb) {
    if (!fa.count(kv.first)) {
      data.push_back({{"split", kv.first}, {"a", nullptr}, {"b", file_brief(kv.second)}});
    }
  }
  const json va = json_at(a.data, "vocab"), vb = json_at(b.data, "vocab");
  if (va != vb) data.push_back({{"split", "vocab"}, {"a", va}, {"b", vb}});
  d["data"] = data;

  // Per epoch, every numeric metric either run recorded (wall times and
  // bookkeeping aside), as [a, b].
  std::set<std::string> keys;
  for (const auto* m : {&a.metrics, &b.metrics}) {
    for (const json& row : *m) {
      if (!row.is_object()) continue;
      for (auto it = row.begin(); it != row.end(); ++it) {
        const std::string& k = it.key();
        const bool bookkeeping = k == "epoch" || k == "step" || k == "lr" ||
                                 (k.size() >= 7 && k.compare(k.size() - 7, 7, "seconds") == 0);
        if (!bookkeeping && it.value().is_number()) keys.insert(k);
      }
    }
  }
  json metrics = json::array();
  const std::size_t n = std::max(a.metrics.size(), b.metrics.size());
  for (std::size_t i = 0; i < n; ++i) {
    json row = {{"epoch", static_cast<std::int64_t>(i + 1)}};
    for (const auto& k : keys) {
      row[k] = {i < a.metrics.size() ? field(a.metrics[i], k.c_str()) : json(nullptr),
                i < b.metrics.size() ? field(b.metrics[i], k.c_str()) : json(nullptr)};
    }
    metrics.push_back(row);
  }
  d["metrics"] = metrics;
  d["metrics_identical"] = comparable_metrics(a.metrics) == comparable_metrics(b.metrics);

  const TraceDivergence t = first_trace_divergence(a.trace, b.trace);
  d["trace"] = t.step < 0 ? json(nullptr)
                          : json{{"first_diverging_step", t.step},
                                 {"field", t.field},
                                 {"a", t.a},
                                 {"b", t.b},
                                 {"last_equal_state_step", t.last_equal_state}};
  d["state_hash"] = {{"a", a.state_hash()}, {"b", b.state_hash()}};
  d["state_hash_match"] = !a.state_sha256().empty() && a.state_sha256() == b.state_sha256();
  d["identical"] = d["config"].empty() && d["data"].empty() && d["metrics_identical"].get<bool>() &&
                   d["trace"].is_null() && d["state_hash_match"].get<bool>();
  return d;
}

void explain_diff(const RunRecord& a, const RunRecord& b, const std::string& self_exe, json* d) {
  json& diff = *d;
  Localised l;
  const json t = diff["trace"];
  if (t.is_object()) {
    const std::int64_t step = t["first_diverging_step"].get<std::int64_t>();
    if (!self_exe.empty()) {
      const std::string work = make_temp_dir("ml-train-diff");
      try {
        l = localise_runs(a, b, t["last_equal_state_step"].get<std::int64_t>() + 1, step, self_exe,
                          work);
      } catch (...) {
        remove_tree(work);
        throw;
      }
      remove_tree(work);
    } else {
      l.step = step;
      l.text = "first divergence: step " + std::to_string(step) + " (" + str(t["field"]) +
               "; not re-run)";
    }
    diff["divergence"] = {
        {"step", l.step}, {"phase", l.phase}, {"where", l.where}, {"text", l.text}};
    if (!l.upstream.empty()) diff["divergence"]["upstream"] = l.upstream;
  }
  if (diff["identical"].get<bool>()) return;
  Cause c;
  for (const RunRecord* r : {&a, &b}) {
    const json p = recorded_perturbation(*r);
    if (p.is_object() && c.kind.empty()) {
      c = {"perturbation", r->dir + " was deliberately perturbed (" +
                               str(p.value("tensor", json(""))) + " after step " +
                               str(p.value("step", json(0))) + ", the self-test)" +
                               where_clause(l)};
    }
  }
  if (c.kind.empty()) c = likely_cause(diff, a.config, l);
  diff["cause"] = {{"kind", c.kind}, {"text", c.text}};
}

std::string format_diff(const json& d) {
  std::ostringstream o;
  auto section = [&](const char* title, const json& rows, const char* none) {
    o << title << ":";
    if (rows.empty()) {
      o << " " << none << "\n";
      return;
    }
    o << "\n";
    for (const auto& r : rows) {
      o << "  " << str(r["key"]) << ": " << str(r["a"]) << " -> " << str(r["b"]) << "\n";
    }
  };
  o << "a: " << str(d["a"]) << "\nb: " << str(d["b"]) << "\n";
  section("config", d["config"], "identical");
  section("runtime (does not change results)", d["runtime"], "identical");
  section("environment", d["env"], "identical");
  o << "data:";
  if (d["data"].empty()) {
    o << " identical fingerprints\n";
  } else {
    o << "\n";
    for (const auto& r : d["data"]) {
      o << "  " << str(r["split"]) << ": " << (r["a"].is_null() ? "-" : json_line(r["a"])) << " -> "
        << (r["b"].is_null() ? "-" : json_line(r["b"])) << "\n";
    }
  }
  o << "metrics (a | b; * = not bit-identical):\n";
  const json& rows = d["metrics"];
  std::vector<std::string> keys;
  if (!rows.empty()) {
    for (auto it = rows[0].begin(); it != rows[0].end(); ++it) {
      if (it.key() != "epoch") keys.push_back(it.key());
    }
  }
  // Columns of 17 characters ("0.1234 | 0.1234"), no trailing blanks.
  auto line = [&](const std::string& head, const std::vector<std::string>& cells) {
    std::string l = head;
    for (const auto& c : cells) l += "  " + c + std::string(c.size() < 17 ? 17 - c.size() : 0, ' ');
    o << l.substr(0, l.find_last_not_of(' ') + 1) << "\n";
  };
  line("  epoch", keys);
  for (const auto& r : rows) {
    bool same = true;
    std::vector<std::string> cells;
    for (const auto& k : keys) {
      same = same && r[k][0] == r[k][1];
      cells.push_back(fixed_or_dash(r[k][0]) + " | " + fixed_or_dash(r[k][1]));
    }
    std::ostringstream head;
    head << (same ? "  " : "* ") << std::setw(5) << r["epoch"].get<std::int64_t>();
    line(head.str(), cells);
  }
  if (d["trace"].is_null()) {
    o << "trace: identical\n";
  } else {
    const json& t = d["trace"];
    o << "trace: first diverging step " << t["first_diverging_step"].get<std::int64_t>() << " ("
      << str(t["field"]) << ": " << str(t["a"]) << " vs " << str(t["b"]) << ")\n";
  }
  o << "state hash: " << str(d["state_hash"]["a"]) << " vs " << str(d["state_hash"]["b"]) << " -> "
    << (d["state_hash_match"].get<bool>() ? "match" : "DIFFER") << "\n";
  if (d.contains("divergence")) o << str(d["divergence"]["text"]) << "\n";
  if (d.contains("cause")) {
    o << "likely cause (" << str(d["cause"]["kind"]) << "): " << str(d["cause"]["text"]) << "\n";
  }
  return o.str();
}

}  // namespace mltrain
