// ml-train: main -> real_main -> parse flags -> run a subcommand.
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "build_info.h"
#include "cli/commands.h"
#include "mltrain/error.h"

namespace cli = mltrain::cli;

namespace {

bool parse_bool_text(const std::string& t, bool* out) {
  if (t.empty() || t == "true" || t == "1" || t == "yes" || t == "on") {
    *out = true;
    return true;
  }
  if (t == "false" || t == "0" || t == "no" || t == "off") {
    *out = false;
    return true;
  }
  return false;
}

// A repeatable option taking one value per occurrence (--vary A --vary B), so
// that it never swallows the KEY=VALUE positionals that follow it.
CLI::Option* add_repeatable(CLI::App* app, const std::string& name, std::vector<std::string>& into,
                            const std::string& help) {
  return app->add_option(name, into, help)
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "ml-train";
  buf[n] = '\0';
  return buf;
}

// -c/--seed/--deterministic/KEY=VALUE, shared by train, config and verify.
struct SourceFlags {
  std::string file, seed, deterministic;
  std::vector<std::string> overrides;
  CLI::Option* seed_opt = nullptr;
  CLI::Option* det_opt = nullptr;

  void add_to(CLI::App* app) {
    app->add_option("-c,--config", file, "YAML or JSON config file");
    seed_opt = app->add_option("--seed", seed, "root seed for every random stream (default 42)");
    det_opt = app->add_flag("--deterministic{true}", deterministic,
                            "bit-exact mode: --deterministic or --deterministic=true|false");
    app->add_option("overrides", overrides, "KEY=VALUE overrides, e.g. training.lr=5e-4");
  }

  mltrain::ConfigSources sources() const {
    mltrain::ConfigSources s;
    s.file = file;
    if (seed_opt->count() > 0) s.seed = seed;
    if (det_opt->count() > 0) {
      bool v;
      if (!parse_bool_text(deterministic, &v)) {
        mltrain::fail_usage("--deterministic: expected true or false, got \"" + deterministic +
                            "\"");
      }
      s.deterministic = v;
    }
    s.overrides = overrides;
    return s;
  }
};

int real_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  static const std::set<std::string> kCommands = {"train",     "config",  "env",     "verify",
                                                  "reproduce", "diff",    "sweep",   "runs",
                                                  "report",    "predict", "evaluate"};
  static const std::set<std::string> kTopFlags = {"-h", "--help", "--version"};
  // `ml-train --seed 123` means `ml-train train --seed 123`.
  if (args.empty() || (!kCommands.count(args[0]) && !kTopFlags.count(args[0]))) {
    args.insert(args.begin(), "train");
  }

  CLI::App app{
      "ml-train: reproducible text-classification experiments on LibTorch.\n"
      "With no subcommand, `ml-train [flags]` means `ml-train train [flags]`.",
      "ml-train"};
  app.set_version_flag("--version", std::string(MLTRAIN_VERSION));
  app.require_subcommand(1);

  cli::TrainArgs train_args;
  SourceFlags train_flags;
  CLI::App* train = app.add_subcommand("train", "train a config into <output_dir>/<run_id>/");
  train_flags.add_to(train);
  train->add_flag("--rerun", train_args.rerun,
                  "train a completed run again into reruns/<n>/ and compare state hashes");
  train->add_flag("--wait", train_args.wait,
                  "when another process is training this run, wait for it instead of failing");
  train->add_option("--run-dir", train_args.run_dir,
                    "train into this directory instead of <output_dir>/<run_id>/");

  SourceFlags config_flags;
  bool config_json = false, config_schema = false;
  CLI::App* config =
      app.add_subcommand("config", "print the resolved config, its canonical JSON and run_id");
  config_flags.add_to(config);
  config->add_flag("--json", config_json, "one JSON object: run_id, canonical, config");
  config->add_flag("--schema", config_schema,
                   "print the JSON Schema of config files (every key, type, default, range)");

  CLI::App* env = app.add_subcommand("env", "print the environment manifest (JSON)");

  cli::VerifyArgs verify_args;
  SourceFlags verify_flags;
  CLI::App* verify = app.add_subcommand(
      "verify",
      "train a config (or, after --, any program on the Run API) several times in separate "
      "processes and require identical results");
  verify->footer(
      "With `-- COMMAND ARGS...`, runs COMMAND once per attempt, replacing {run_dir} in ARGS by "
      "the attempt's run directory (the program must write its run there with the Run API). The "
      "verdict is recorded in every attempt and in the run of that identity in the output "
      "directory, where `runs` and `report` show it.");
  verify_flags.add_to(verify);
  verify->add_option("--repeats", verify_args.repeats, "identical runs to compare (default 3)")
      ->check(CLI::Range(1, 100));
  add_repeatable(verify, "--vary", verify_args.vary,
                 "runtime KEY=V1,V2,... whose values must not change results (repeatable); with "
                 "-- COMMAND, each value is passed to COMMAND as one more argument KEY=VALUE");
  verify
      ->add_option("--interrupt-at", verify_args.interrupt_at,
                   "SIGKILL one run at this step, resume it, require the same result")
      ->check(CLI::Range(static_cast<std::int64_t>(1), static_cast<std::int64_t>(1) << 40));
  verify->add_option("--perturb", verify_args.perturb,
                     "self-test: perturb parameter TENSOR after step STEP in the last repeat "
                     "(STEP:TENSOR); verify must then fail naming that step and tensor");
  verify->add_option("--output-dir", verify_args.output_dir,
                     "with a command: where verify/ goes, and whose run of the program's identity "
                     "records the verdict (default: runs)");
  verify->add_flag("--json", verify_args.json, "print the verdict as JSON");

  std::string reproduce_dir;
  bool allow_data_change = false;
  CLI::App* reproduce =
      app.add_subcommand("reproduce", "re-run a saved run and compare with what it recorded");
  reproduce->add_option("run_dir", reproduce_dir, "a run directory")->required();
  reproduce->add_flag("--allow-data-change", allow_data_change,
                      "run even if a data file's fingerprint differs from data.json");

  std::string diff_a, diff_b;
  bool diff_json = false, diff_no_rerun = false;
  CLI::App* diff = app.add_subcommand(
      "diff",
      "config / env / data / metrics / trace / hash differences of two runs, where they first "
      "diverge (re-running both to that step: first differing module or tensor) and the likely "
      "cause");
  diff->add_option("run_a", diff_a, "first run directory")->required();
  diff->add_option("run_b", diff_b, "second run directory")->required();
  diff->add_flag("--json", diff_json, "print the differences as JSON");
  diff->add_flag("--no-rerun", diff_no_rerun,
                 "compare the records only; do not re-run both runs to the diverging step");

  cli::SweepArgs sweep_args;
  SourceFlags sweep_flags;
  CLI::App* sweep = app.add_subcommand(
      "sweep",
      "train every combination of a grid (seeds x hyperparameters); mean +- std over seeds of "
      "every metric the runs recorded");
  sweep_flags.add_to(sweep);
  add_repeatable(sweep, "--grid", sweep_args.grid,
                 "KEY=V1,V2,... (repeatable; seed=1,2,3 for seeds)")
      ->required();
  sweep->add_option("--jobs", sweep_args.jobs, "runs trained at the same time (default 1)")
      ->check(CLI::Range(1, 64));
  sweep->add_flag("--json", sweep_args.json, "print the runs and groups as JSON");
  sweep
      ->add_option("--launcher", sweep_args.launcher,
                   "local (default): train here; slurm: submit an sbatch job array, one task "
                   "per point not completed yet")
      ->check(CLI::IsMember({"local", "slurm"}));
  sweep->add_flag("--dry-run", sweep_args.dry_run,
                  "with --launcher slurm: print the sbatch script, submit nothing");
  add_repeatable(sweep, "--sbatch-arg", sweep_args.sbatch_args,
                 "with --launcher slurm: an extra '#SBATCH ARG' line, e.g. --partition=cpu");

  cli::PredictArgs predict_args;
  CLI::App* predict = app.add_subcommand(
      "predict",
      "predict the labels of new texts with a completed run's tokenizer and model (JSONL)");
  predict->add_option("run_dir", predict_args.run_dir, "a completed run directory")->required();
  predict->add_option("file", predict_args.file,
                      "texts: the run's data format (.jsonl/.csv/.tsv, .gz) or one per line; "
                      "- or none = standard input, one per line");
  predict->add_option("--format", predict_args.format, "auto|jsonl|csv|tsv|lines (default auto)")
      ->check(CLI::IsMember({"auto", "jsonl", "csv", "tsv", "lines"}));
  predict->add_option("--top-k", predict_args.top_k, "also the K most likely labels, best first")
      ->check(CLI::Range(1, 1000000));
  predict->add_flag("--skip-bad", predict_args.skip_bad,
                    "leave out bad rows (one warning line each) instead of failing");
  predict
      ->add_option("--threads", predict_args.threads,
                   "batches predicted at once (default: all cores); never changes results")
      ->check(CLI::Range(1, 1024));

  cli::EvaluateArgs evaluate_args;
  CLI::App* evaluate = app.add_subcommand(
      "evaluate", "evaluate a completed run on a labelled file; recorded in the run directory");
  evaluate->add_option("run_dir", evaluate_args.run_dir, "a completed run directory")->required();
  evaluate->add_option("--data", evaluate_args.file, "labelled file in the run's data format")
      ->required();
  evaluate->add_option("--name", evaluate_args.name,
                       "record name: evaluations/NAME.json (default: the file's name)");
  evaluate->add_option("--format", evaluate_args.format, "auto|jsonl|csv|tsv (default auto)")
      ->check(CLI::IsMember({"auto", "jsonl", "csv", "tsv"}));
  evaluate->add_option("--threads", evaluate_args.threads, "batches at once (default: all cores)")
      ->check(CLI::Range(1, 1024));
  evaluate->add_flag("--json", evaluate_args.json, "print the record as JSON");

  std::vector<std::string> runs_where, runs_metrics;
  std::string runs_sort, runs_output_dir;
  std::string runs_config;
  bool runs_json = false, runs_csv = false;
  CLI::App* runs = app.add_subcommand(
      "runs", "list the runs under the output directory with the metrics they recorded");
  runs->footer(
      "Metrics are whatever the runs recorded (summary.json, nested objects joined by '_', e.g. "
      "val_acc; else the last line of metrics.jsonl). Lower is better when a run declares it "
      "(summary.json \"metric_directions\": {\"NAME\": \"lower\"}) or the name says loss, "
      "error, mse, mae, perplexity, ...; otherwise higher.");
  runs->add_option("-c,--config", runs_config, "config whose runtime.output_dir to list");
  runs->add_option("--output-dir", runs_output_dir,
                   "directory to list (default: runtime.output_dir)");
  add_repeatable(runs, "--where", runs_where,
                 "filter (repeatable): config KEY=VALUE or KEY!=VALUE, or a metric threshold "
                 "METRIC<X, <=, >, >= (e.g. 'val_loss<0.5')");
  runs->add_option("--sort", runs_sort,
                   "METRIC (any metric the runs recorded, best first), METRIC:asc, METRIC:desc, "
                   "steps or run_id");
  runs->add_option("--metrics", runs_metrics,
                   "metric columns of the text table, shown first (NAME,NAME,...; default: the "
                   "sort metric, then the others, 6 in all)")
      ->delimiter(',');
  runs->add_flag("--json", runs_json, "print the rows as JSON");
  runs->add_flag("--csv", runs_csv,
                 "print the rows as CSV (a header line; pandas.read_csv reads it)")
      ->excludes("--json");

  std::vector<std::string> report_dirs;
  std::string report_out;
  CLI::App* report = app.add_subcommand(
      "report",
      "write an HTML report of a run, a sweep, an output directory (an index of its runs), "
      "or a comparison of two or more runs");
  report
      ->add_option("dirs", report_dirs,
                   "a run, sweep or output directory; or two or more run directories to compare")
      ->required();
  report->add_option("-o,--output", report_out,
                     "output file (default: DIR/report.html, OUTPUT_DIR/index.html, or "
                     "compare-A-B.html here for a comparison)");

  // `verify ... -- COMMAND ARGS`: everything after the first "--" is the
  // command, never parsed as ml-train options.
  if (args[0] == "verify") {
    auto sep = std::find(args.begin(), args.end(), "--");
    if (sep != args.end()) {
      verify_args.command.assign(sep + 1, args.end());
      verify_args.has_command = true;
      args.erase(sep, args.end());
    }
  }
  std::vector<std::string> cli_args(args.rbegin(), args.rend());  // CLI11 wants reversed
  try {
    app.parse(cli_args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ml-train: error: " << e.what() << " (see ml-train --help)\n";
    return 2;
  }

  std::vector<std::string> command_line(argv, argv + argc);
  if (*train) {
    train_args.sources = train_flags.sources();
    return cli::cmd_train(train_args, command_line);
  }
  if (*config) return cli::cmd_config(config_flags.sources(), config_json, config_schema);
  if (*env) return cli::cmd_env();
  if (*verify) {
    verify_args.sources = verify_flags.sources();
    return cli::cmd_verify(verify_args, self_exe());
  }
  if (*reproduce) return cli::cmd_reproduce(reproduce_dir, allow_data_change, self_exe());
  if (*diff) return cli::cmd_diff(diff_a, diff_b, diff_json, !diff_no_rerun, self_exe());
  if (*report) return cli::cmd_report(report_dirs, report_out);
  if (*predict) return cli::cmd_predict(predict_args);
  if (*evaluate) return cli::cmd_evaluate(evaluate_args);
  if (*runs) {
    mltrain::ConfigSources s;
    s.file = runs_config;
    if (!runs_output_dir.empty()) s.overrides.push_back("runtime.output_dir=" + runs_output_dir);
    return cli::cmd_runs(s, runs_where, runs_sort, runs_metrics,
                         runs_json  ? "json"
                         : runs_csv ? "csv"
                                    : "text");
  }
  if (*sweep) {
    sweep_args.sources = sweep_flags.sources();
    return cli::cmd_sweep(sweep_args, self_exe());
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Training allocates and frees the same large activation buffers every
  // step. glibc would hand blocks above its mmap threshold back to the OS on
  // free and page-fault them in again (zeroed) on the next step: a third of
  // the transformer's time. Keep freed memory in the process instead.
  ::mallopt(M_MMAP_THRESHOLD, 256 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
  try {
    const int rc = real_main(argc, argv);
    // Output that never arrived (a full disk, a closed pipe) is a failure.
    std::cout.flush();
    if (!std::cout) {
      std::cerr << "ml-train: error: cannot write to standard output\n";
      return 2;
    }
    return rc;
  } catch (const mltrain::Error& e) {
    std::cout.flush();
    std::cerr << "ml-train: error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cout.flush();
    std::string what = e.what();
    auto nl = what.find('\n');
    std::cerr << "ml-train: internal error: " << what.substr(0, nl) << "\n";
    return 1;
  }
}
