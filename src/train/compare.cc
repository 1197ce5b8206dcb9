// verify / reproduce / diff: the guarantees as commands.
#include "mltrain/compare.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <set>
#include <ostream>
#include <sstream>

#include "mltrain/env.h"
#include "mltrain/error.h"
#include "mltrain/fs.h"
#include "mltrain/hash.h"
#include "train/process.h"
#include "train/run_dir.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

json read_if_exists(const std::string& path) {
  return path_exists(path) ? read_json_file(path) : json(nullptr);
}

void flatten(const json& j, const std::string& prefix, std::map<std::string, json>* out) {
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    }
  } else {
    (*out)[prefix] = j;
  }
}

// Metrics without wall-clock fields (*seconds), which legitimately differ.
std::vector<json> comparable_metrics(const std::vector<json>& m) {
  std::vector<json> out;
  for (const json& row : m) {
    json kept = json::object();
    for (auto it = row.begin(); it != row.end(); ++it) {
      const std::string& k = it.key();
      if (k.size() < 7 || k.compare(k.size() - 7, 7, "seconds") != 0) kept[k] = it.value();
    }
    out.push_back(kept);
  }
  return out;
}

// parent/1, parent/2, ...: the first that this process creates (mkdir is
// atomic, so two commands started together never share one).
std::string next_numbered_dir(const std::string& parent) {
  make_dirs(parent);
  for (int n = 1;; ++n) {
    std::string dir = join_path(parent, std::to_string(n));
    if (::mkdir(dir.c_str(), 0755) == 0) return dir;
    if (errno != EEXIST) fail_usage(dir + ": cannot create directory: " + std::strerror(errno));
  }
}

std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// What differs between two completed runs: "" when identical.
std::string compare_results(const RunRecord& ref, const RunRecord& run) {
  std::vector<std::string> what;
  if (comparable_metrics(ref.metrics) != comparable_metrics(run.metrics)) what.push_back("metrics");
  if (first_trace_divergence(ref.trace, run.trace).step >= 0) what.push_back("trace");
  std::string ha = ref.summary.is_object() ? ref.summary.value("state_sha256", "") : "";
  std::string hb = run.summary.is_object() ? run.summary.value("state_sha256", "") : "";
  if (ha.empty() || ha != hb) what.push_back("state hash");
  std::string out;
  for (const auto& w : what) out += (out.empty() ? "" : ", ") + w;
  return out;
}

// One verify run: a name, the overrides that make it, how to run it.
struct Plan {
  std::string name, variation;
  std::vector<std::string> overrides;
  std::vector<std::string> env;
  bool interrupt = false;
};

std::vector<std::string> train_argv(const std::string& exe, const std::string& cfg_file,
                                    const std::string& run_dir, const Plan& p) {
  std::vector<std::string> argv = {exe, "train", "-c", cfg_file, "--run-dir", run_dir,
                                   "runtime.progress=false"};
  argv.insert(argv.end(), p.overrides.begin(), p.overrides.end());
  return argv;
}

// Re-runs two plans up to `to`, dumping per-tensor hashes from `from`, and
// names the first differing (step, tensor, phase).
std::string localise(const std::string& exe, const std::string& cfg_file, const std::string& dir,
                     const Plan& a, const Plan& b, std::int64_t from, std::int64_t to) {
  const std::string steps = std::to_string(from) + ":" + std::to_string(to);
  std::vector<std::vector<json>> dumps;
  for (const Plan* p : {&a, &b}) {
    std::string d = join_path(dir, "dump_" + p->name);
    std::string file = join_path(dir, "dump_" + p->name + ".jsonl");
    auto argv = train_argv(exe, cfg_file, d, *p);
    argv.insert(argv.end(), {"--dump-steps", steps, "--dump-file", file});
    ChildResult r = run_child(argv, p->env, join_path(dir, "dump_" + p->name + ".log"));
    if (r.exit_code != 0) {
      return "first divergence: step " + std::to_string(to) +
             " (re-running to dump tensors failed; see " + join_path(dir, "dump_" + p->name + ".log") + ")";
    }
    dumps.push_back(read_jsonl_file(file));
  }
  static const std::map<std::string, std::string> kPhase = {
      {"batch", "input batch"}, {"param", "param"}, {"grad", "grad"}, {"optimizer", "optimizer state"}};
  const std::size_t n = std::min(dumps[0].size(), dumps[1].size());
  for (std::size_t i = 0; i < n; ++i) {
    const json& x = dumps[0][i];
    const json& y = dumps[1][i];
    if (x == y) continue;
    const json& tx = x["tensors"];
    const json& ty = y["tensors"];
    std::string tensor = "?";
    for (std::size_t k = 0; k < std::min(tx.size(), ty.size()); ++k) {
      if (tx[k] != ty[k]) {
        tensor = tx[k][0].get<std::string>();
        break;
      }
    }
    std::string phase = x.value("phase", "");
    auto it = kPhase.find(phase);
    return "first divergence: step " + std::to_string(x.value("step", 0)) + ", tensor " + tensor +
           " (" + (it == kPhase.end() ? phase : it->second) + ")";
  }
  if (b.interrupt) {
    return "first divergence: step " + std::to_string(to) +
           " (trace); without the interruption every tensor is identical, so the difference "
           "comes from the kill and resume";
  }
  return "first divergence: step " + std::to_string(to) +
         " (trace); every tensor was identical when re-run, so the difference did not reproduce "
         "(nondeterministic execution)";
}

}  // namespace

RunRecord load_run(const std::string& dir) {
  if (!is_directory(dir)) fail_usage(dir + ": not a directory");
  if (!path_exists(join_path(dir, "config.json"))) {
    fail_usage(dir + ": not an ml-train run directory (no config.json)");
  }
  RunRecord r;
  r.dir = dir;
  r.config = read_json_file(join_path(dir, "config.json"));
  r.run = read_if_exists(join_path(dir, "run.json"));
  r.env = read_if_exists(join_path(dir, "env.json"));
  r.data = read_if_exists(join_path(dir, "data.json"));
  r.summary = read_if_exists(join_path(dir, "summary.json"));
  r.metrics = read_jsonl_file(join_path(dir, "metrics.jsonl"));
  r.trace = read_jsonl_file(join_path(dir, "trace.jsonl"));
  return r;
}

TraceDivergence first_trace_divergence(const std::vector<json>& a, const std::vector<json>& b) {
  TraceDivergence d;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    for (const char* field : {"step", "loss", "lr", "state"}) {
      // State hashes are recorded every runtime.trace_every steps, which is
      // an execution setting: compare them where both traces have one.
      if (!a[i].contains(field) || !b[i].contains(field)) {
        if (std::string(field) == "state") continue;
      }
      json va = a[i].value(field, json(nullptr));
      json vb = b[i].value(field, json(nullptr));
      if (va != vb) {
        d.step = a[i].value("step", static_cast<std::int64_t>(i + 1));
        d.field = field;
        d.a = str(va);
        d.b = str(vb);
        return d;
      }
    }
    if (a[i].contains("state") && b[i].contains("state")) {
      d.last_equal_state = a[i].value("step", 0);
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
  flatten(a, "", &fa);
  flatten(b, "", &fb);
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

json diff_runs(const RunRecord& a, const RunRecord& b) {
  json d;
  d["a"] = a.dir;
  d["b"] = b.dir;
  d["config"] = json_diff(a.config, b.config);
  d["runtime"] = json_diff(a.run.is_object() ? a.run.value("runtime", json::object()) : json::object(),
                           b.run.is_object() ? b.run.value("runtime", json::object()) : json::object());
  d["env"] = json_diff(a.env, b.env);
  // Data: compare fingerprints by split, not by path.
  json data = json::array();
  auto files = [](const json& dj) {
    std::map<std::string, json> m;
    if (dj.is_object()) {
      for (const auto& f : dj.value("files", json::array())) m[f.value("split", "?")] = f;
    }
    return m;
  };
  auto fa = files(a.data), fb = files(b.data);
  for (const auto& kv : fa) {
    json other = fb.count(kv.first) ? fb[kv.first] : json(nullptr);
    if (other.is_null() || kv.second.value("sha256", "") != other.value("sha256", "")) {
      data.push_back({{"split", kv.first},
                      {"a", {{"path", kv.second.value("path", "")}, {"sha256", kv.second.value("sha256", "")}, {"rows", kv.second.value("rows", 0)}}},
                      {"b", other.is_null() ? json(nullptr)
                                            : json{{"path", other.value("path", "")}, {"sha256", other.value("sha256", "")}, {"rows", other.value("rows", 0)}}}});
    }
  }
  for (const auto& kv : fb) {
    if (!fa.count(kv.first)) data.push_back({{"split", kv.first}, {"a", nullptr}, {"b", kv.second}});
  }
  json va = a.data.is_object() ? a.data.value("vocab", json(nullptr)) : json(nullptr);
  json vb = b.data.is_object() ? b.data.value("vocab", json(nullptr)) : json(nullptr);
  if (va != vb) data.push_back({{"split", "vocab"}, {"a", va}, {"b", vb}});
  d["data"] = data;

  json metrics = json::array();
  const std::size_t n = std::max(a.metrics.size(), b.metrics.size());
  for (std::size_t i = 0; i < n; ++i) {
    json row = {{"epoch", static_cast<std::int64_t>(i + 1)}};
    for (const char* k : {"train_loss", "val_loss", "val_acc", "val_f1"}) {
      row[k] = {i < a.metrics.size() ? a.metrics[i].value(k, json(nullptr)) : json(nullptr),
                i < b.metrics.size() ? b.metrics[i].value(k, json(nullptr)) : json(nullptr)};
    }
    metrics.push_back(row);
  }
  d["metrics"] = metrics;
  d["metrics_identical"] = comparable_metrics(a.metrics) == comparable_metrics(b.metrics);

  TraceDivergence t = first_trace_divergence(a.trace, b.trace);
  d["trace"] = t.step < 0 ? json(nullptr)
                          : json{{"first_diverging_step", t.step}, {"field", t.field}, {"a", t.a}, {"b", t.b},
                                 {"last_equal_state_step", t.last_equal_state}};
  std::string ha = a.summary.is_object() ? a.summary.value("state_hash", "") : "";
  std::string hb = b.summary.is_object() ? b.summary.value("state_hash", "") : "";
  d["state_hash"] = {{"a", ha}, {"b", hb}};
  d["state_hash_match"] = !ha.empty() && !hb.empty() &&
                          a.summary.value("state_sha256", "") == b.summary.value("state_sha256", "");
  d["identical"] = d["config"].empty() && d["data"].empty() && d["metrics_identical"].get<bool>() &&
                   d["trace"].is_null() && d["state_hash_match"].get<bool>();
  return d;
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
      o << "  " << r["key"].get<std::string>() << ": " << str(r["a"]) << " -> " << str(r["b"]) << "\n";
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
      o << "  " << str(r["split"]) << ": " << (r["a"].is_null() ? "-" : r["a"].dump()) << " -> "
        << (r["b"].is_null() ? "-" : r["b"].dump()) << "\n";
    }
  }
  o << "metrics (a | b; * = not bit-identical):\n";
  o << "  epoch  val_acc            val_loss             train_loss\n";
  for (const auto& r : d["metrics"]) {
    bool same = r["val_acc"][0] == r["val_acc"][1] && r["val_loss"][0] == r["val_loss"][1] &&
                r["train_loss"][0] == r["train_loss"][1];
    o << (same ? "  " : "* ") << std::setw(5) << r["epoch"].get<std::int64_t>() << "  " << fixed_or_dash(r["val_acc"][0]) << " | "
      << fixed_or_dash(r["val_acc"][1]) << "    " << fixed_or_dash(r["val_loss"][0]) << " | " << fixed_or_dash(r["val_loss"][1])
      << "     " << fixed_or_dash(r["train_loss"][0]) << " | " << fixed_or_dash(r["train_loss"][1]) << "\n";
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
  return o.str();
}

VerifyResult verify(const Config& cfg, const VerifyOptions& opt) {
  VerifyResult res;
  const std::string run_id = cfg.run_id();
  res.dir = next_numbered_dir(join_path(join_path(cfg.runtime.output_dir, "verify"), run_id));
  const std::string cfg_file = join_path(res.dir, "config.full.json");
  write_json_atomic(cfg_file, cfg.to_json());

  std::vector<Plan> plans;
  for (int k = 1; k <= opt.repeats; ++k) {
    plans.push_back({"r" + std::to_string(k), k == 1 ? "reference" : "repeat", {}, {}, false});
  }
  for (const auto& v : opt.vary) {
    auto eq = v.find('=');
    if (eq == std::string::npos) fail_usage("--vary '" + v + "': expected KEY=V1,V2,...");
    std::string key = v.substr(0, eq);
    if (key.rfind("runtime.", 0) != 0) {
      fail_usage("--vary '" + v + "': only runtime.* keys can be varied (other keys are part of "
                 "the run identity and are expected to change results)");
    }
    if (eq + 1 == v.size()) fail_usage("--vary '" + v + "': no values, expected KEY=V1,V2,...");
    std::stringstream values(v.substr(eq + 1));
    std::string value;
    while (std::getline(values, value, ',')) {
      Config check = cfg;
      apply_override(&check, key + "=" + value);  // validates key and value now
      plans.push_back({"v" + std::to_string(plans.size() + 1), key + "=" + value,
                       {key + "=" + value}, {}, false});
    }
  }
  if (opt.interrupt_at > 0) {
    // Without checkpoints before the kill there would be nothing to resume
    // from; checkpointing is a runtime setting, so it cannot change results.
    std::vector<std::string> ov;
    if (cfg.runtime.checkpoint_every == 0 || cfg.runtime.checkpoint_every > opt.interrupt_at) {
      ov.push_back("runtime.checkpoint_every=" +
                   std::to_string(std::max<std::int64_t>(1, opt.interrupt_at / 2)));
    }
    plans.push_back({"k" + std::to_string(plans.size() + 1),
                     "SIGKILL at step " + std::to_string(opt.interrupt_at) + ", resumed", ov, {},
                     true});
  }
  for (std::size_t i = 0; i < plans.size(); ++i) {
    plans[i].env.push_back("MLTRAIN_VERIFY_RUN=" + std::to_string(i + 1));
  }

  if (opt.out) {
    *opt.out << "verify " << run_id << ": " << plans.size() << " runs in " << res.dir << "\n"
             << std::flush;
  }
  std::vector<RunRecord> records;
  std::int64_t plans_resumed_from = -1;
  for (Plan& p : plans) {
    const std::string dir = join_path(res.dir, p.name);
    const std::string log = dir + ".log";
    auto argv = train_argv(opt.self_exe, cfg_file, dir, p);
    if (p.interrupt) {
      std::vector<std::string> env = p.env;
      env.push_back("MLTRAIN_STOP_AT=" + std::to_string(opt.interrupt_at));
      ChildResult k = run_child(argv, env, log, /*kill_when_stopped=*/true);
      if (!k.killed && k.exit_code == 0) {
        fail_usage("--interrupt-at " + std::to_string(opt.interrupt_at) +
                   ": the run finished before that step (it has fewer steps)");
      }
      if (!k.killed) {
        fail_run("run " + p.name + " failed before step " + std::to_string(opt.interrupt_at) +
                 " with exit code " + std::to_string(k.exit_code) + "; see " + log);
      }
    }
    ChildResult r = run_child(argv, p.env, log);
    if (r.exit_code != 0) {
      fail_run("run " + p.name + " (" + p.variation + ") failed with exit code " +
               std::to_string(r.exit_code) + "; see " + log);
    }
    records.push_back(load_run(dir));
    if (p.interrupt) {
      // Say where the resumed attempt started: the proof is in resuming.
      const json& attempts = records.back().run["attempts"];
      std::int64_t from = attempts.empty() ? -1 : attempts.back().value("resumed_from_step", -1);
      plans_resumed_from = from;
    }
  }

  for (Plan& p : plans) {
    if (p.interrupt) {
      p.variation = "SIGKILL at step " + std::to_string(opt.interrupt_at) + ", resumed from " +
                    std::to_string(plans_resumed_from);
    }
  }
  res.identical = true;
  std::int64_t first_bad = -1;
  res.runs = json::array();
  for (std::size_t i = 0; i < plans.size(); ++i) {
    std::string what = i == 0 ? "" : compare_results(records[0], records[i]);
    std::string verdict = i == 0 ? "reference" : what.empty() ? "identical" : "DIFFERS (" + what + ")";
    if (!what.empty()) {
      res.identical = false;
      if (first_bad < 0) first_bad = static_cast<std::int64_t>(i);
    }
    res.runs.push_back({{"run", plans[i].name},
                        {"variation", plans[i].variation},
                        {"dir", records[i].dir},
                        {"state_hash", records[i].summary.value("state_hash", "")},
                        {"verdict", verdict}});
  }
  if (opt.out) {
    *opt.out << std::left << std::setw(5) << "run" << std::setw(38) << "variation" << std::setw(18)
             << "state_hash" << "verdict\n";
    for (const auto& r : res.runs) {
      *opt.out << std::setw(5) << r["run"].get<std::string>() << std::setw(38)
               << r["variation"].get<std::string>() << std::setw(18)
               << r["state_hash"].get<std::string>() << r["verdict"].get<std::string>() << "\n";
    }
    *opt.out << std::flush;
  }
  if (!res.identical) {
    const RunRecord& bad = records[static_cast<std::size_t>(first_bad)];
    TraceDivergence t = first_trace_divergence(records[0].trace, bad.trace);
    std::int64_t to = t.step > 0 ? t.step : static_cast<std::int64_t>(records[0].trace.size());
    res.divergence = localise(opt.self_exe, cfg_file, res.dir, plans[0],
                              plans[static_cast<std::size_t>(first_bad)],
                              t.last_equal_state + 1, to);
    if (opt.out) {
      *opt.out << "NOT identical: " << plans[static_cast<std::size_t>(first_bad)].variation
               << " differs from the reference\n"
               << res.divergence << "\n";
    }
  } else if (opt.out) {
    *opt.out << "all " << plans.size() << " runs identical (metrics, trace, state hash)\n";
  }
  return res;
}

ReproduceResult reproduce(const std::string& run_dir, const ReproduceOptions& opt) {
  ReproduceResult res;
  RunRecord orig = load_run(run_dir);
  if (!orig.summary.is_object()) {
    fail_usage(run_dir + ": the run has no summary.json (not completed), nothing to compare with");
  }
  Config cfg = config_from_json(orig.config, join_path(run_dir, "config.json"));
  if (cfg.canonical() != read_file(join_path(run_dir, "config.json"))) {
    fail_usage(join_path(run_dir, "config.json") + ": not in canonical form (edited by hand?)");
  }
  nlohmann::json full = cfg.to_json();
  if (orig.run.is_object() && orig.run.contains("runtime")) {
    for (auto it = orig.run["runtime"].begin(); it != orig.run["runtime"].end(); ++it) {
      full["runtime"][it.key()] = it.value();
    }
  }

  // Data: the files must still be what the run saw.
  res.data_changes = json::array();
  if (orig.data.is_object()) {
    for (const auto& f : orig.data.value("files", json::array())) {
      std::string path = f.value("path", "");
      if (!path_exists(path)) {
        fail_usage(path + ": data file of the run (" + f.value("split", "") +
                   " split) not found; run reproduce from the directory the run was started in");
      }
      std::string now = sha256_file(path);
      if (now != f.value("sha256", "")) {
        res.data_changes.push_back({{"split", f.value("split", "")}, {"path", path},
                                    {"recorded", f.value("sha256", "")}, {"now", now}});
      }
    }
  }
  res.env_diff = json_diff(orig.env, environment_manifest());
  std::ostream* out = opt.out;
  if (out) {
    *out << "reproduce " << run_dir << " (run " << sha1_hex(read_file(join_path(run_dir, "config.json"))).substr(0, 8)
         << ")\n";
    if (res.env_diff.empty()) {
      *out << "environment: same as recorded\n";
    } else {
      *out << "environment differs from env.json:\n";
      for (const auto& r : res.env_diff) {
        *out << "  " << r["key"].get<std::string>() << ": " << str(r["a"]) << " -> " << str(r["b"]) << "\n";
      }
    }
    for (const auto& c : res.data_changes) {
      *out << "data changed: " << c["split"].get<std::string>() << " " << c["path"].get<std::string>()
           << " sha256 recorded " << c["recorded"].get<std::string>().substr(0, 16) << ", now "
           << c["now"].get<std::string>().substr(0, 16) << "\n";
    }
    *out << std::flush;
  }
  if (!res.data_changes.empty() && !opt.allow_data_change) {
    fail_run("refusing to reproduce: " + std::to_string(res.data_changes.size()) +
             " data file(s) changed since the run (see above); --allow-data-change runs anyway");
  }

  res.dir = next_numbered_dir(join_path(run_dir, "reproduce"));
  const std::string cfg_file = join_path(res.dir, "config.full.json");
  write_json_atomic(cfg_file, full);
  const std::string new_dir = join_path(res.dir, "run");
  Plan p{"run", "reproduce", {}, {}, false};
  ChildResult r = run_child(train_argv(opt.self_exe, cfg_file, new_dir, p), {}, res.dir + "/train.log");
  if (r.exit_code != 0) {
    fail_run("the re-run failed with exit code " + std::to_string(r.exit_code) + "; see " +
             res.dir + "/train.log");
  }
  RunRecord again = load_run(new_dir);
  res.diff = diff_runs(orig, again);
  res.match = compare_results(orig, again).empty();
  if (out) {
    if (res.match) {
      *out << "MATCH: metrics, trace and state hash " << orig.summary.value("state_hash", "")
           << " reproduced in " << new_dir << "\n";
    } else {
      *out << "NO MATCH (" << compare_results(orig, again) << ") in " << new_dir << "\n";
      if (!res.diff["trace"].is_null()) {
        *out << "first diverging step: " << res.diff["trace"]["first_diverging_step"].get<std::int64_t>()
             << "\n";
      }
      *out << "state hash: recorded " << orig.summary.value("state_hash", "") << ", now "
           << again.summary.value("state_hash", "") << "\n";
    }
  }
  return res;
}

namespace {

// Does config value v equal the text given on the command line?
bool value_matches(const json& v, const std::string& text) {
  if (v.is_string()) return v.get<std::string>() == text;
  if (v.is_null()) return text == "null" || text == "~" || text.empty();
  if (v.is_boolean()) return (text == "true") == v.get<bool>() && (text == "true" || text == "false");
  if (v.is_number()) {
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
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
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) fail_usage("--where '" + w + "': expected KEY=VALUE");
    std::string key = w.substr(0, eq);
    if (std::find(config_keys().begin(), config_keys().end(), key) == config_keys().end() ||
        key.rfind("runtime.", 0) == 0) {
      std::string s = suggest_key(key);
      fail_usage("--where '" + w + "': unknown config key '" + key + "'" +
                 (s.empty() ? "" : " (did you mean '" + s + "'?)"));
    }
    filters.emplace_back(key, w.substr(eq + 1));
  }
  if (!is_directory(output_dir)) fail_usage(output_dir + ": no such output directory");
  std::vector<std::string> names;
  if (DIR* d = ::opendir(output_dir.c_str())) {
    while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  json rows = json::array();
  for (const auto& name : names) {
    const std::string dir = join_path(output_dir, name);
    if (name[0] == '.' || !path_exists(join_path(dir, "config.json"))) continue;
    json cfg;
    try {
      cfg = read_json_file(join_path(dir, "config.json"));
    } catch (const Error&) {
      continue;  // not a run we can read; list_runs only reports
    }
    std::map<std::string, json> flat;
    flatten(cfg, "", &flat);
    bool keep = true;
    for (const auto& f : filters) {
      auto it = flat.find(f.first);
      if (it == flat.end() || !value_matches(it->second, f.second)) keep = false;
    }
    if (!keep) continue;
    json run = read_if_exists(join_path(dir, "run.json"));
    json summary = read_if_exists(join_path(dir, "summary.json"));
    json row = {{"run_id", name},
                {"dir", dir},
                {"status", run.is_object() ? run.value("status", "?") : "?"},
                {"arch", flat["model.arch"]},
                {"seed", flat["seed"]},
                {"deterministic", flat["deterministic"]}};
    auto metric = [&](const char* split, const char* k) {
      return summary.is_object() && summary[split].is_object() ? summary[split].value(k, json(nullptr))
                                                               : json(nullptr);
    };
    row["val_acc"] = metric("val", "acc");
    row["val_f1"] = metric("val", "f1");
    row["val_loss"] = metric("val", "loss");
    row["test_acc"] = metric("test", "acc");
    row["test_f1"] = metric("test", "f1");
    row["steps"] = summary.is_object() ? summary.value("steps", json(nullptr)) : json(nullptr);
    row["state_hash"] = summary.is_object() ? summary.value("state_hash", "") : "";
    rows.push_back(row);
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
  o << std::left << std::setw(10) << "run_id" << std::setw(11) << "status" << std::setw(13) << "arch"
    << std::setw(22) << "seed" << std::setw(8) << "det" << std::setw(9) << "val_acc" << std::setw(9)
    << "val_f1" << std::setw(10) << "test_acc" << "state_hash\n";
  for (const auto& r : rows) {
    o << std::setw(10) << str(r["run_id"]) << std::setw(11) << str(r["status"]) << std::setw(13)
      << str(r["arch"]) << std::setw(22) << str(r["seed"]) << std::setw(8)
      << (r["deterministic"].is_boolean() && r["deterministic"].get<bool>() ? "true" : "false")
      << std::setw(9) << fixed_or_dash(r["val_acc"]) << std::setw(9) << fixed_or_dash(r["val_f1"]) << std::setw(10)
      << fixed_or_dash(r["test_acc"]) << str(r["state_hash"]) << "\n";
  }
  o << rows.size() << " run" << (rows.size() == 1 ? "" : "s") << "\n";
  return o.str();
}

}  // namespace mltrain
