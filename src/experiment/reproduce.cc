// reproduce: re-run a saved run of the built-in trainer and compare.
#include <ostream>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/layout.h"
#include "run/process.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : json_line(v); }

}  // namespace

ReproduceResult reproduce(const std::string& run_dir, const ReproduceOptions& opt) {
  ReproduceResult res;
  const RunRecord orig = load_run(run_dir);
  const std::string config_path = join_path(run_dir, layout::kConfig);
  const json trainer = json_at(orig.run, "trainer");
  if (trainer.is_string() && trainer.get<std::string>() != "ml-train train") {
    fail_usage(run_dir + ": trained by '" + trainer.get<std::string>() +
               "', not by ml-train train; re-run that program into a new directory and compare "
               "with ml-train diff");
  }
  if (!orig.summary.is_object()) {
    fail_usage(run_dir + ": the run has no " + layout::kSummary +
               " (not completed), nothing to compare with");
  }
  const Config cfg = config_from_json(orig.config, config_path);
  if (cfg.canonical() != read_file(config_path)) {
    fail_usage(config_path + ": not in canonical form (edited by hand?)");
  }
  if (sha1_hex(read_file(config_path)).substr(0, 8) != orig.summary.value("run_id", "")) {
    fail_usage(config_path + ": does not hash to the run id its summary records (edited by hand?)");
  }
  json full = cfg.to_json();
  const json runtime = json_at(orig.run, "runtime");
  if (runtime.is_object()) {
    for (auto it = runtime.begin(); it != runtime.end(); ++it)
      full["runtime"][it.key()] = it.value();
  }

  // Data: the files must still be what the run saw.
  res.data_changes = json::array();
  const json files = json_at(orig.data, "files");
  if (files.is_array()) {
    for (const auto& f : files) {
      const std::string path = f.value("path", "");
      const std::string split = f.value("split", "");
      const std::string found = find_data_file(path);
      if (found.empty()) {
        fail_usage(path + ": data file of the run (" + split +
                   " split) not found; run reproduce from the directory the run was started in");
      }
      const std::string now = sha256_file(found);
      if (now != f.value("sha256", "")) {
        res.data_changes.push_back(
            {{"split", split}, {"path", path}, {"recorded", f.value("sha256", "")}, {"now", now}});
      }
    }
  }
  std::ostream* out = opt.out;
  if (out) {
    *out << "reproduce " << run_dir << " (run " << orig.run_id() << ")\n";
    for (const auto& c : res.data_changes) {
      *out << "data changed: " << str(c["split"]) << " " << str(c["path"]) << " sha256 recorded "
           << str(c["recorded"]).substr(0, 16) << ", now " << str(c["now"]).substr(0, 16) << "\n";
    }
    *out << std::flush;
  }
  if (!res.data_changes.empty() && !opt.allow_data_change) {
    fail_run("refusing to reproduce: " + std::to_string(res.data_changes.size()) +
             " data file(s) changed since the run (see above); --allow-data-change runs anyway");
  }

  const std::string dir = claim_numbered_dir(join_path(run_dir, layout::kReproduce));
  const std::string cfg_file = join_path(dir, layout::kFullConfig);
  write_json_atomic(cfg_file, full);
  res.dir = join_path(dir, "run");
  const std::string log = join_path(dir, "train.log");
  ChildResult r = run_child(
      {{opt.self_exe, "train", "-c", cfg_file, "--run-dir", res.dir, "runtime.progress=false"},
       {},
       log});
  if (r.exit_code != 0) {
    fail_run("the re-run failed with exit code " + std::to_string(r.exit_code) + "; see " + log);
  }
  const RunRecord again = load_run(res.dir);
  // The environment of the re-run, as it recorded it.
  res.env_diff = json_diff(orig.env, again.env);
  res.diff = diff_runs(orig, again);
  const std::string what = compare_results(orig, again);
  res.match = what.empty();
  if (out) {
    if (res.env_diff.empty()) {
      *out << "environment: same as recorded\n";
    } else {
      *out << "environment differs from env.json:\n";
      for (const auto& d : res.env_diff) {
        *out << "  " << str(d["key"]) << ": " << str(d["a"]) << " -> " << str(d["b"]) << "\n";
      }
    }
    if (res.match) {
      *out << "MATCH: metrics, trace and state hash " << orig.state_hash() << " reproduced in "
           << res.dir << "\n";
    } else {
      *out << "NO MATCH (" << what << ") in " << res.dir << "\n";
      if (!res.diff["trace"].is_null()) {
        *out << "first diverging step: "
             << res.diff["trace"]["first_diverging_step"].get<std::int64_t>() << "\n";
      }
      *out << "state hash: recorded " << orig.state_hash() << ", now " << again.state_hash()
           << "\n";
    }
  }
  return res;
}

}  // namespace mltrain
