#include <iostream>

#include "cli/commands.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/layout.h"

namespace mltrain {
namespace cli {

int cmd_verify(const VerifyArgs& a, const std::string& self_exe) {
  VerifyOptions o;
  o.self_exe = self_exe;
  o.repeats = a.repeats;
  o.vary = a.vary;
  o.interrupt_at = a.interrupt_at;
  o.perturb = a.perturb;
  o.output_dir = a.output_dir;
  o.out = a.json ? nullptr : &std::cout;
  VerifyResult r;
  if (a.has_command) {
    const ConfigSources& s = a.sources;
    if (!s.file.empty() || s.seed || s.deterministic || !s.overrides.empty()) {
      fail_usage(
          "verify -- COMMAND: -c, --seed, --deterministic and KEY=VALUE configure "
          "ml-train's own trainer; give the command its own arguments after --");
    }
    r = verify_command(a.command, o);
  } else {
    if (!a.output_dir.empty()) {
      fail_usage("--output-dir: only with -- COMMAND (set runtime.output_dir for a config)");
    }
    r = verify(resolve_config(a.sources), o);
  }
  if (a.json) {
    std::cout << nlohmann::json{{"identical", r.identical},
                                {"dir", r.dir},
                                {"runs", r.runs},
                                {"divergence", r.divergence},
                                {"recorded_in", r.recorded_in}}
                     .dump(2)
              << "\n";
  }
  return r.identical ? 0 : 1;
}

int cmd_reproduce(const std::string& run_dir, bool allow_data_change, const std::string& self_exe) {
  ReproduceOptions o;
  o.self_exe = self_exe;
  o.allow_data_change = allow_data_change;
  o.out = &std::cout;
  return reproduce(run_dir, o).match ? 0 : 1;
}

int cmd_sweep(const SweepArgs& a, const std::string& self_exe) {
  Config cfg = resolve_config(a.sources);
  SweepOptions o;
  o.self_exe = self_exe;
  o.grid = a.grid;
  o.jobs = a.jobs;
  o.out = a.json ? nullptr : &std::cout;
  o.launcher = a.launcher;
  o.dry_run = a.dry_run;
  o.sbatch_args = a.sbatch_args;
  SweepResult r = sweep(cfg, o);
  if (o.launcher == "slurm") {
    if (a.json) {
      std::cout << nlohmann::json{{"dir", r.dir}, {"script", r.script}, {"job_id", r.job_id}}.dump(
                       2)
                << "\n";
    }
    return 0;
  }
  if (a.json) {
    std::cout << nlohmann::json{{"dir", r.dir}, {"runs", r.runs}, {"groups", r.groups}}.dump(2)
              << "\n";
  }
  return r.all_completed ? 0 : 1;
}

int cmd_report(const std::vector<std::string>& dirs, const std::string& output) {
  std::string html, path = output;
  if (dirs.size() > 1) {
    html = render_comparison(dirs);
    if (path.empty()) {
      path = "compare";
      for (const auto& d : dirs) path += "-" + load_run(d, RunParts::kBrief).run_id();
      path += ".html";
    }
  } else {
    const std::string& dir = dirs[0];
    html = render_report(dir);
    if (path.empty()) {
      const bool index = !is_run_dir(dir) && !path_exists(join_path(dir, layout::kSweepFile));
      path = join_path(dir, index ? layout::kIndex : layout::kReport);
    }
  }
  write_file_atomic(path, html);
  std::cout << path << "\n";
  return 0;
}

int cmd_runs(const ConfigSources& s, const std::vector<std::string>& where,
             const std::string& sort_by, const std::vector<std::string>& metrics,
             const std::string& format) {
  Config cfg = resolve_config(s);  // for runtime.output_dir
  nlohmann::json rows = list_runs(cfg.runtime.output_dir, where, sort_by);
  std::vector<std::string> first = metrics;
  const std::string sort_name = sort_by.substr(0, sort_by.rfind(':'));
  if (first.empty() && !sort_name.empty() && sort_name != "run_id" && sort_name != "steps") {
    first.push_back(sort_name);  // the sort metric is shown whatever it is
  }
  std::cout << (format == "json"  ? rows.dump(2) + "\n"
                : format == "csv" ? format_runs_csv(rows)
                                  : format_runs(rows, first));
  return 0;
}

int cmd_diff(const std::string& a, const std::string& b, bool json, bool rerun,
             const std::string& self_exe) {
  const RunRecord ra = load_run(a), rb = load_run(b);
  nlohmann::json d = diff_runs(ra, rb);
  explain_diff(ra, rb, rerun ? self_exe : "", &d);
  std::cout << (json ? d.dump(2) + "\n" : format_diff(d));
  return 0;
}

}  // namespace cli
}  // namespace mltrain
