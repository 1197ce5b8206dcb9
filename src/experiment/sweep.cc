// sweep: seeds x hyperparameters, each combination its own run, aggregated
// as mean +- std over seeds.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "core/fs.h"
#include "core/hash.h"
#include "experiment/metrics.h"
#include "mltrain/canonical_json.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"
#include "mltrain/layout.h"
#include "run/process.h"
#include "run/record_files.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

struct Axis {
  std::string key;
  std::vector<std::string> values;
};

std::vector<Axis> parse_grid(const Config& cfg, const std::vector<std::string>& grid) {
  std::vector<Axis> axes;
  for (const auto& g : grid) {
    const KeyValues kv = parse_key_values(g, "--grid", cfg);
    if (kv.key.rfind("runtime.", 0) == 0) {
      fail_usage("--grid '" + g + "': runtime.* keys do not change results; use verify --vary");
    }
    for (const auto& ax : axes) {
      if (ax.key == kv.key) fail_usage("--grid '" + g + "': key given twice");
    }
    axes.push_back({kv.key, kv.values});
  }
  if (axes.empty()) fail_usage("sweep: give at least one --grid KEY=V1,V2,...");
  return axes;
}

// Every combination, first axis slowest.
std::vector<std::vector<std::string>> combinations(const std::vector<Axis>& axes) {
  std::vector<std::vector<std::string>> out = {{}};
  for (const auto& a : axes) {
    std::vector<std::vector<std::string>> next;
    for (const auto& prefix : out) {
      for (const auto& v : a.values) {
        auto c = prefix;
        c.push_back(a.key + "=" + v);
        next.push_back(c);
      }
    }
    out = next;
  }
  return out;
}

json stats(const std::vector<double>& xs) {
  if (xs.empty()) return nullptr;
  double mean = 0;
  for (double x : xs) mean += x;
  mean /= static_cast<double>(xs.size());
  double var = 0;
  for (double x : xs) var += (x - mean) * (x - mean);
  double sd = xs.size() > 1 ? std::sqrt(var / static_cast<double>(xs.size() - 1)) : 0.0;
  return {{"mean", mean}, {"std", sd}, {"n", static_cast<std::int64_t>(xs.size())}};
}

std::string pm(const json& s) {
  if (!s.is_object()) return "-";
  return metric_pm(s["mean"].get<double>(), s["std"].get<double>());
}

// Metric columns of the sweep's text tables.
constexpr std::size_t kTextMetrics = 4;

// The metrics of runs (sweep rows), directions included.
MetricColumns sweep_metrics(const json& runs) {
  MetricColumns c;
  for (const auto& r : runs) {
    c.add(row_metrics(r),
          r.is_object() && r.contains(kMetricDirections) ? r[kMetricDirections] : json());
  }
  return c;
}

}  // namespace

json sweep_groups(const json& runs) {
  std::map<std::string, std::vector<std::size_t>> groups;  // non-seed overrides -> runs
  for (std::size_t i = 0; i < runs.size(); ++i) {
    std::string group;
    for (const auto& o : runs[i].value("overrides", json::array())) {
      const std::string ov = o.get<std::string>();
      if (ov.rfind("seed=", 0) != 0) group += (group.empty() ? "" : " ") + ov;
    }
    groups[group].push_back(i);
  }
  const MetricColumns columns = sweep_metrics(runs);
  json out = json::array();
  for (const auto& g : groups) {
    json entry = {{"group", g.first.empty() ? "(all)" : g.first}, {"runs", json::array()}};
    std::map<std::string, std::vector<double>> values;
    std::int64_t completed = 0;
    for (std::size_t i : g.second) {
      const json& r = runs[i];
      entry["runs"].push_back(r.value("run_id", ""));
      if (r.value("status", "") != "completed") continue;
      ++completed;
      const json m = row_metrics(r);
      for (auto it = m.begin(); it != m.end(); ++it) {
        if (it.value().is_number()) values[it.key()].push_back(it.value().get<double>());
      }
    }
    entry["n"] = completed;
    json metrics = json::object();
    for (const auto& name : columns.names()) {
      if (values.count(name)) metrics[name] = stats(values[name]);
    }
    put_metrics(metrics, nullptr, &entry);
    out.push_back(entry);
  }
  return out;
}

std::string format_sweep(const json& runs, const json& groups) {
  const MetricColumns columns = sweep_metrics(runs);
  std::vector<std::string> shown = columns.names();
  const std::size_t hidden = shown.size() > kTextMetrics ? shown.size() - kTextMetrics : 0;
  if (hidden) shown.resize(kTextMetrics);
  // Columns as wide as their longest entry, so long override lists and
  // group names never run into the numbers.
  std::vector<std::string> ovs;
  std::size_t ov_width = 0;
  for (const auto& r : runs) {
    std::string ov;
    for (const auto& x : r["overrides"]) ov += (ov.empty() ? "" : " ") + x.get<std::string>();
    ov_width = std::max(ov_width, ov.size());
    ovs.push_back(ov);
  }
  std::size_t group_width = std::string("group").size();
  for (const auto& g : groups) {
    group_width = std::max(group_width, g["group"].get<std::string>().size());
  }
  std::ostringstream o;
  o << std::left;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& r = runs[i];
    std::string result;
    if (r["status"] == "completed") {
      const json m = row_metrics(r);
      for (const auto& k : shown) {
        result += (result.empty() ? "" : "  ") + k + " " + metric_text(m.value(k, json()));
      }
      if (result.empty()) result = "completed (no metrics recorded)";
    } else {
      result = "FAILED (see " + r.value("log", std::string("its log")) + ")";
    }
    o << "  " << r["run_id"].get<std::string>() << "  " << std::setw(static_cast<int>(ov_width + 2))
      << ovs[i] << result << "\n";
  }
  const int gw = static_cast<int>(group_width + 2);
  std::vector<int> widths;
  for (const auto& k : shown)
    widths.push_back(static_cast<int>(std::max<std::size_t>(20, k.size() + 2)));
  std::string header;
  {
    std::ostringstream h;
    h << std::left << std::setw(gw) << "group" << std::setw(4) << "n";
    for (std::size_t k = 0; k < shown.size(); ++k) h << std::setw(widths[k]) << shown[k];
    header = h.str();
  }
  o << header.substr(0, header.find_last_not_of(' ') + 1) << "\n";
  for (const auto& g : groups) {
    std::ostringstream line;
    line << std::left << std::setw(gw) << g["group"].get<std::string>() << std::setw(4)
         << g["n"].get<std::int64_t>();
    const json m = row_metrics(g);
    for (std::size_t k = 0; k < shown.size(); ++k) {
      line << std::setw(widths[k]) << pm(m.value(shown[k], json()));
    }
    const std::string l = line.str();
    o << l.substr(0, l.find_last_not_of(' ') + 1) << "\n";
  }
  if (hidden) {
    o << hidden << " more metric" << (hidden == 1 ? "" : "s")
      << " aggregated in sweep.json (--json shows them)\n";
  }
  // The best group by the headline metric, when there is a choice.
  if (!columns.empty() && groups.size() > 1) {
    const std::string& k = columns.names()[0];
    const bool lower = columns.lower_is_better(k);
    std::string best;
    json best_stats;
    for (const auto& g : groups) {
      const json s = row_metrics(g).value(k, json());
      if (!s.is_object()) continue;
      const double v = s["mean"].get<double>();
      if (best.empty() ||
          (lower ? v < best_stats["mean"].get<double>() : v > best_stats["mean"].get<double>())) {
        best = g["group"].get<std::string>();
        best_stats = s;
      }
    }
    if (!best.empty()) {
      o << "best by " << k << " (" << (lower ? "lower" : "higher") << " is better): " << best
        << "  " << pm(best_stats) << "\n";
    }
  }
  return o.str();
}

namespace {

// A word for bash: single-quoted unless it is plainly safe.
std::string shell_word(const std::string& w) {
  bool plain = !w.empty();
  for (char c : w) {
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) ||
                      std::strchr("-_./=:,+@%", c) != nullptr);
  }
  if (plain) return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

std::string sbatch_script(const std::string& sweep_id, const std::string& dir,
                          const std::vector<std::vector<std::string>>& commands,
                          const std::vector<std::size_t>& tasks,
                          const std::vector<std::string>& sbatch_args) {
  std::string array;
  for (std::size_t t : tasks) array += (array.empty() ? "" : ",") + std::to_string(t);
  std::string s = "#!/bin/bash\n";
  s += "#SBATCH --job-name=ml-train-sweep-" + sweep_id + "\n";
  s += "#SBATCH --array=" + array + "\n";
  s += "#SBATCH --ntasks=1\n";
  s += "#SBATCH --chdir=" + shell_word(std::filesystem::current_path().string()) +
       "\n";  // relative paths as given
  s += "#SBATCH --output=" + shell_word(join_path(dir, "task-%a.log")) + "\n";
  for (const auto& a : sbatch_args) s += "#SBATCH " + a + "\n";
  s += "# ml-train sweep " + sweep_id +
       ": one array task per point of the grid not completed\n"
       "# yet; task i trains point i with an ordinary, idempotent `ml-train train` (a\n"
       "# completed run is reported, an interrupted one resumes). When the tasks are\n"
       "# done, the same `ml-train sweep` command (without --launcher) aggregates them.\n"
       "set -euo pipefail\n"
       "case \"${SLURM_ARRAY_TASK_ID:?not an array task}\" in\n";
  for (std::size_t t : tasks) {
    s += "  " + std::to_string(t) + ") exec";
    for (const auto& w : commands[t]) s += " " + shell_word(w);
    s += " ;;\n";
  }
  s += "  *) echo \"ml-train sweep " + sweep_id +
       ": no point $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n";
  return s;
}

namespace {

SweepResult submit_to_slurm(const Config& cfg, const SweepOptions& opt, const std::string& sweep_id,
                            const std::vector<std::string>& run_ids,
                            const std::vector<ChildSpec>& specs, SweepResult res) {
  std::vector<std::vector<std::string>> commands;
  std::vector<std::size_t> pending;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    commands.push_back(specs[i].argv);
    const std::string dir = join_path(cfg.runtime.output_dir, run_ids[i]);
    if (!path_exists(join_path(dir, layout::kSummary))) pending.push_back(i);
  }
  if (pending.empty()) {
    if (opt.out) {
      *opt.out << "sweep " << sweep_id << ": all " << specs.size()
               << " runs are completed; nothing to submit (run the sweep without --launcher "
                  "to aggregate them)\n";
    }
    res.all_completed = true;
    return res;
  }
  res.script = sbatch_script(sweep_id, res.dir, commands, pending, opt.sbatch_args);
  if (opt.dry_run) {
    if (opt.out) *opt.out << res.script << std::flush;
    return res;
  }
  if (!program_on_path("sbatch")) {
    fail_usage("--launcher slurm: sbatch is not on PATH (use --dry-run to print the script)");
  }
  make_dirs(res.dir);
  write_json_atomic(join_path(res.dir, layout::kFullConfig), cfg.to_json());
  const std::string script_path = join_path(res.dir, "sbatch.sh");
  write_file_atomic(script_path, res.script);
  const std::string answer_path = join_path(res.dir, "sbatch.out");
  std::remove(answer_path.c_str());
  const ChildResult r = run_child({{"sbatch", "--parsable", script_path}, {}, answer_path});
  std::string answer = path_exists(answer_path) ? read_file(answer_path) : "";
  while (!answer.empty() && (answer.back() == '\n' || answer.back() == '\r')) answer.pop_back();
  if (r.exit_code != 0) {
    fail_run("sbatch " + script_path + " failed (exit " + std::to_string(r.exit_code) +
             "): " + answer);
  }
  res.job_id = answer.substr(0, answer.find(';'));  // "jobid[;cluster]"
  if (opt.out) {
    *opt.out << "sweep " << sweep_id << ": submitted job " << res.job_id << " (" << pending.size()
             << " array tasks of " << specs.size() << " points) from " << script_path
             << "\nlogs: " << join_path(res.dir, "task-<point>.log")
             << "; when the job is done, run the same sweep without --launcher to aggregate\n"
             << std::flush;
  }
  return res;
}

}  // namespace

SweepResult sweep(const Config& cfg, const SweepOptions& opt) {
  if (opt.launcher != "local" && opt.launcher != "slurm") {
    fail_usage("--launcher '" + opt.launcher + "': expected local or slurm");
  }
  const std::vector<Axis> axes = parse_grid(cfg, opt.grid);
  const auto combos = combinations(axes);
  json spec = {{"base", cfg.identity_json()}, {"grid", json::array()}};
  for (const auto& a : axes) spec["grid"].push_back({{"key", a.key}, {"values", a.values}});
  const std::string sweep_id = sha1_hex(canonical_json(spec)).substr(0, 8);
  SweepResult res;
  res.dir = join_path(join_path(cfg.runtime.output_dir, layout::kSweepsDir), sweep_id);
  const std::string cfg_file = join_path(res.dir, layout::kFullConfig);

  std::vector<ChildSpec> specs;
  std::vector<std::string> run_ids;
  for (std::size_t i = 0; i < combos.size(); ++i) {
    Config c = cfg;
    for (const auto& o : combos[i]) apply_override(&c, o);
    for (std::size_t j = 0; j < run_ids.size(); ++j) {
      if (run_ids[j] == c.run_id()) {
        std::string a, b;
        for (const auto& o : combos[j]) a += (a.empty() ? "" : " ") + o;
        for (const auto& o : combos[i]) b += (b.empty() ? "" : " ") + o;
        fail_usage("--grid: '" + a + "' and '" + b + "' are the same config (run " + c.run_id() +
                   "); give each value once");
      }
    }
    run_ids.push_back(c.run_id());
    // --wait: a point that another sweep is training is waited for, not failed.
    std::vector<std::string> argv = {opt.self_exe, "train",  "--wait",
                                     "-c",         cfg_file, "runtime.progress=false"};
    argv.insert(argv.end(), combos[i].begin(), combos[i].end());
    specs.push_back({argv, {}, join_path(res.dir, std::to_string(i + 1) + ".log")});
  }
  if (opt.launcher == "slurm") return submit_to_slurm(cfg, opt, sweep_id, run_ids, specs, res);
  // The grid is valid: from here on the sweep directory is written.
  make_dirs(res.dir);
  write_json_atomic(cfg_file, cfg.to_json());
  if (opt.out) {
    *opt.out << "sweep " << sweep_id << ": " << combos.size() << " runs (" << opt.jobs
             << " at a time) in " << res.dir << "\n"
             << std::flush;
  }
  std::vector<ChildResult> results = run_children(specs, opt.jobs);

  // The result comes from the run directories themselves, under the sweep's
  // lock: a point another process trained counts as completed, and two
  // sweeps of one grid write the same sweep.json.
  FileLock lock;
  lock.lock(join_path(res.dir, layout::kSweepLock));
  res.runs = json::array();
  res.all_completed = true;
  for (std::size_t i = 0; i < combos.size(); ++i) {
    const std::string dir = join_path(cfg.runtime.output_dir, run_ids[i]);
    const std::string summary_path = join_path(dir, layout::kSummary);
    json row = {{"overrides", combos[i]},
                {"run_id", run_ids[i]},
                {"dir", dir},
                {"exit_code", results[i].exit_code},
                {"log", specs[i].log_path}};
    if (path_exists(summary_path)) {
      const RunRecord r = load_run(dir, RunParts::kBrief);
      row["status"] = "completed";
      row["state_hash"] = r.state_hash();
      put_metrics(run_metrics(r), declared_directions(r), &row);
    } else {
      row["status"] = "failed";
      res.all_completed = false;
    }
    res.runs.push_back(row);
  }

  res.groups = sweep_groups(res.runs);
  write_json_atomic(
      join_path(res.dir, layout::kSweepFile),
      {{"sweep_id", sweep_id}, {"spec", spec}, {"runs", res.runs}, {"groups", res.groups}});

  if (opt.out) *opt.out << format_sweep(res.runs, res.groups) << std::flush;
  return res;
}

}  // namespace mltrain
