// Experiment tools: the guarantees as commands. verify, reproduce, diff,
// sweep, runs and report read run directories (records.h) and run training
// as separate processes; they never touch a tensor and do not depend on
// LibTorch. Whatever trained a run directory, the built-in trainer or a
// program of yours on the Run API (run.h), these tools read it the same way.
#ifndef MLTRAIN_EXPERIMENT_H_
#define MLTRAIN_EXPERIMENT_H_

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mltrain/config.h"
#include "mltrain/records.h"

namespace mltrain {

// ------------------------------------------------------------- metrics ----

// A run's final metrics, {name: number}: whatever the run recorded as
// results, whoever trained it. summary.json (what the program gave
// Run::finish) with nested objects flattened by '_' (the built-in trainer's
// {"val": {"acc": 0.9}} is val_acc) and, for names the summary lacks, the
// last line of metrics.jsonl (the last record_epoch). Bookkeeping is left
// out: run_id, state_hash, state_sha256, steps, epochs, epoch, step,
// model_file, names ending in "seconds", and names whose last part is n,
// count or lr. runs, sweep and the report pages show, sort and aggregate
// exactly these; a metric is better lower when the run declares it
// (summary.json "metric_directions": {"NAME": "lower"|"higher"}) or, without
// a declaration, when its name says loss, error, mse, mae, perplexity, ...
nlohmann::json run_metrics(const RunRecord& run);

// ---------------------------------------------------------------- diff ----

// First step at which two traces differ (loss bits, lr, state hash, or one
// trace ending early). step = -1 when identical. last_equal_state is the last
// step before it whose recorded state hash matched (0 if none). State hashes
// are compared where both traces recorded one (trace_every is a runtime
// setting).
struct TraceDivergence {
  std::int64_t step = -1;
  std::string field;
  std::string a, b;
  std::int64_t last_equal_state = 0;
};
TraceDivergence first_trace_divergence(const std::vector<nlohmann::json>& a,
                                       const std::vector<nlohmann::json>& b);

// Leaves that differ between two JSON objects, as
// [{"key": "training.lr", "a": ..., "b": ...}, ...] in key order.
nlohmann::json json_diff(const nlohmann::json& a, const nlohmann::json& b);

// What differs between two completed runs' results ("metrics", "trace",
// "state hash", comma-separated), "" when identical. Wall-clock fields
// (*seconds) are not compared.
std::string compare_results(const RunRecord& reference, const RunRecord& run);

// The first difference between two tensor dumps (lines {"step", "phase",
// "tensors": [[name, hash], ...]} in the order they were recorded): step,
// phase and the first differing tensor or module. step = -1 when the dumps
// agree. Phase "forward" holds module outputs in execution order, "backward"
// the gradients flowing back into them in backward order: `where` is then a
// module, e.g. "step 9: first differs in layers.0.self_attn (forward
// output)". A first difference in "backward" means every forward output
// agreed and the gradient reaching `where` from downstream differs:
// "step 9: first differs in the gradient flowing into layers.0.norm1 from
// downstream (its forward output agreed)"; `upstream` is then the entry just
// before it in backward order, whose gradient still agreed ("" when `where`
// is the first gradient, the one coming from the loss).
struct Localised {
  std::int64_t step = -1;
  std::string phase;
  std::string where;       // tensor or module name
  std::string upstream;    // phase "backward": the last module whose gradient agreed
  std::string text;        // one line for people
  bool reproduced = true;  // false: the re-run did not differ
};
Localised first_dump_divergence(const std::vector<nlohmann::json>& a,
                                const std::vector<nlohmann::json>& b);

// The likely cause of a difference, classified from what differs:
// kind "config" (names the key), "data" (names the file), "environment"
// (names the field: BLAS library or core type, thread count, LibTorch
// version, CPU flags, ...), or "none": same inputs, different bits (names
// the op kind of `where`, and says whether `deterministic` was off). When
// the first difference is a gradient flowing back into a module
// (where.phase "backward"), the module's own op is not blamed: its forward
// output agreed, so the text says that the gradient from downstream differs
// first and names the backward between where.upstream and it.
struct Cause {
  std::string kind;
  std::string text;
};
// `diff` as diff_runs() returns it (its "config", "data", "env" and
// "runtime" lists); `config` is run A's identity.
Cause likely_cause(const nlohmann::json& diff, const nlohmann::json& config,
                   const Localised& where);
// The same for a module or tensor name alone (a forward output, a parameter
// or its gradient).
Cause likely_cause(const nlohmann::json& diff, const nlohmann::json& config,
                   const std::string& where);

// Re-runs two runs of the built-in trainer (their config.json and recorded
// runtime) up to step `to` with tensor and module dumps from step `from`,
// under work_dir, and names where they first differ (diff uses it).
Localised localise_runs(const RunRecord& a, const RunRecord& b, std::int64_t from, std::int64_t to,
                        const std::string& self_exe, const std::string& work_dir);

// "; first differs in WHERE: OP KIND", or "" for no name; for a gradient
// flowing back into WHERE (phase "backward"), "; the gradient flowing into
// WHERE from downstream differs first (its forward output agreed)".
std::string where_clause(const std::string& where);
std::string where_clause(const Localised& where);

// The deliberate perturbation (verify --perturb, the self-test) an attempt of
// the run recorded in run.json: {"step", "tensor", "nan"}, or null.
nlohmann::json recorded_perturbation(const RunRecord& run);

// The op kind behind a module or tensor name ("layers.0.self_attn" ->
// "attention", "fc.weight" -> "linear"), "" when the name says nothing.
std::string op_kind(const std::string& name);

// Config, runtime, environment, data, metrics, trace and hash differences.
nlohmann::json diff_runs(const RunRecord& a, const RunRecord& b);
// Adds to a diff_runs() result where the runs first diverge and why:
// "divergence" {step, phase, where, text} (re-running both runs of the
// built-in trainer to that step under a temporary directory, when self_exe
// is given and the traces differ) and "cause" {kind, text}.
void explain_diff(const RunRecord& a, const RunRecord& b, const std::string& self_exe,
                  nlohmann::json* diff);

// Human-readable rendering of diff_runs().
std::string format_diff(const nlohmann::json& diff);

// -------------------------------------------------------------- verify ----

struct VerifyOptions {
  std::string self_exe;  // the ml-train executable (built-in trainer)
  int repeats = 3;       // identical runs
  // "runtime.KEY=V1,V2,...": one more run per value. With a command, the
  // value is passed as one more argument KEY=VALUE (ConfigSpec::parse).
  std::vector<std::string> vary;
  std::int64_t interrupt_at = 0;  // SIGKILL one run at this step, then resume it
  std::string perturb;            // self-test: "STEP:TENSOR" perturbs the last repeat
  std::string output_dir;         // for commands: where verify/ goes ("" = "runs")
  std::ostream* out = nullptr;
};

struct VerifyResult {
  bool identical = false;
  std::string dir;         // where the attempts were written
  nlohmann::json runs;     // [{run, variation, dir, state_hash, verdict}]
  std::string divergence;  // "first divergence: step S, tensor T (grad)" or ""
  std::int64_t divergence_step = -1;
  Cause cause;            // when not identical
  nlohmann::json record;  // what verify.json and each verifications/ entry hold
  // The runs under the output directory with the attempts' identity (same
  // config.json bytes) that the verdict was also recorded in.
  std::vector<std::string> recorded_in;
};

// What `verify` found for a run (its verifications/ records): "verified N×"
// (identical runs whose state hash is this run's), "resume-checked" when a
// killed and resumed attempt was among them, "diverged at step S" when the
// latest verification failed, "never verified". Returns {"text", "verified",
// "resume_checked", "diverged_step"}.
nlohmann::json verification_status(const RunRecord& run);

// Trains cfg with the built-in trainer several times as separate processes
// (under <output_dir>/verify/<run_id>/<n>/), plus one run per --vary value
// and one SIGKILLed at interrupt_at and resumed, and compares every run's
// metrics (wall times aside), step trace and state hash with the first. On a
// difference it re-runs the reference and the first differing run up to the
// first diverging step with per-tensor dumps (inputs, gradients, optimizer
// state, parameters) and names the first diverging tensor. The verdict goes
// to verify.json, to verifications/verify.json in every attempt, and to
// verifications/verify-<n>.json in every run directly under the output
// directory whose config.json is this identity's (<output_dir>/<run_id>/).
// Throws Error (exit 2) for bad options before anything is written.
VerifyResult verify(const Config& cfg, const VerifyOptions& options);

// The same for any program that uses the Run API: `command` is run once per
// attempt with every "{run_dir}" in its arguments replaced by the attempt's
// run directory (under <output_dir>/verify/cmd-<hash>/<n>/); a --vary value
// adds the argument runtime.KEY=VALUE to that attempt's command line, for
// the program's own config to apply (a program on ConfigSpec does). The
// program is steered through MLTRAIN_CONTROL (docs/control.md). The verdict is recorded
// as verify() records it: in every attempt, and in every run directly under
// the output directory whose config.json is the attempts' (the program's own
// run of that identity), as verifications/verify-cmd-<hash>-<n>.json.
// Throws Error (exit 2) when no argument holds {run_dir}.
VerifyResult verify_command(const std::vector<std::string>& command, const VerifyOptions& options);

// ----------------------------------------------------------- reproduce ----

struct ReproduceOptions {
  std::string self_exe;
  bool allow_data_change = false;
  std::ostream* out = nullptr;
};

struct ReproduceResult {
  bool match = false;
  std::string dir;              // the new run
  nlohmann::json env_diff;      // environment fields that differ from env.json
  nlohmann::json data_changes;  // data files whose fingerprint differs
  nlohmann::json diff;          // diff_runs(original, new)
};

// Re-runs a run of the built-in trainer from its config.json and recorded
// runtime into RUN_DIR/reproduce/<n>/ and compares it with what the run
// recorded, environment included. Throws Error(kFailure) when a data file
// changed and !allow_data_change; Error(kUsage) when the run is not complete,
// its config.json is not its identity, or another program trained it.
ReproduceResult reproduce(const std::string& run_dir, const ReproduceOptions& options);

// --------------------------------------------------------------- sweep ----

struct SweepOptions {
  std::string self_exe;           // path of the ml-train executable
  std::vector<std::string> grid;  // "KEY=V1,V2,..." (not runtime.*)
  int jobs = 1;                   // runs trained at the same time
  std::ostream* out = nullptr;
  // "local" (train here, `jobs` at a time) or "slurm": write an sbatch
  // job-array script, one array task per point not completed yet (task i
  // trains point i), and submit it with sbatch.
  std::string launcher = "local";
  bool dry_run = false;                  // slurm: print the script, write and submit nothing
  std::vector<std::string> sbatch_args;  // slurm: extra "#SBATCH ARG" lines (e.g. --partition=gpu)
};

struct SweepResult {
  std::string dir;        // <output_dir>/sweeps/<sweep_id>
  std::string script;     // slurm: the sbatch script
  std::string job_id;     // slurm: what sbatch answered ("" = dry run or nothing pending)
  nlohmann::json runs;    // [{overrides, run_id, dir, status, metrics, ...}] (sweep_groups)
  nlohmann::json groups;  // one per combination of non-seed keys: n, metrics' mean and std
  bool all_completed = false;
};

// Trains every combination of the grid over cfg (each an ordinary run in
// <output_dir>/<run_id>/, so completed runs are reused and interrupted ones
// resume), then groups the runs by every grid key except `seed` and reports
// n, mean and sample standard deviation of every metric the runs recorded
// (run_metrics). Writes sweep.json into the sweep directory. Throws Error
// for a bad grid.
SweepResult sweep(const Config& cfg, const SweepOptions& options);

// The sbatch job-array script of a sweep: task i (i in `tasks`) runs
// commands[i]; each task's output goes to <dir>/task-<i>.log.
std::string sbatch_script(const std::string& sweep_id, const std::string& dir,
                          const std::vector<std::vector<std::string>>& commands,
                          const std::vector<std::size_t>& tasks,
                          const std::vector<std::string>& sbatch_args);

// The aggregation of sweep(): `runs` rows hold "overrides" (["key=value"]),
// "run_id", "status" and, for completed runs, "metrics" ({name: number},
// run_metrics; a row without it, from a sweep.json written before, counts
// its numeric fields but exit_code). The result has one group per
// combination of non-seed overrides, in key order: {group, runs, n (the
// completed runs), metrics} where metrics holds, for every metric a
// completed run of the group recorded, {mean, std, n} (sample std; 0 for one
// run); each metric is also at the top level under its own name (g["val_mse"]).
nlohmann::json sweep_groups(const nlohmann::json& runs);

// The table sweep prints: one line per run with its first metrics, one per
// group with mean +- std of the first 4 metrics (display order: validation
// first), and the best group by the first metric (its direction as in
// run_metrics).
std::string format_sweep(const nlohmann::json& runs, const nlohmann::json& groups);

// ---------------------------------------------------------------- runs ----

// The runs under output_dir (directories holding a config.json), in run id
// order, filtered by `where` and sorted by `sort_by`.
//
// where: "KEY=VALUE" or "KEY!=VALUE" on the identity (dotted keys; numbers
// compare as numbers), or a threshold on a metric the runs recorded
// ("val_loss<0.5"; <, <=, >, >=; a run without that metric is left out).
// KEY=VALUE names a metric only when no run has such a config key; a
// threshold on a config key that is not a metric compares its number.
// sort_by: "" or run_id (by run id), steps, or any metric a run recorded,
// best first (lower first when lower is better: declared by a run or
// inferred from the name, see run_metrics); "NAME:asc" / "NAME:desc" chooses.
// Runs without the value go last.
// Throws Error (exit 2) for a malformed filter or sort, and for a metric or
// key no run has (naming the closest one and the metrics recorded).
//
// Each row: run_id, dir, status, seed, deterministic, config (the identity),
// steps, state_hash, verification (verification_status's text), metrics
// ({name: number}, run_metrics), metric_directions (when the run declares
// any), and each metric once more at the top level under its own name
// (unless a row field has that name).
nlohmann::json list_runs(const std::string& output_dir, const std::vector<std::string>& where,
                         const std::string& sort_by);
// The text table: run_id, status, seed, det, up to 3 config keys whose value
// differs between the rows, metric columns (`metrics` first, in that order,
// then the others in display order, 6 in all unless `metrics` names more;
// a line says how many are not shown), steps, verification, state_hash; then
// "N runs". Throws Error (exit 2) for a name in `metrics` no row recorded.
std::string format_runs(const nlohmann::json& rows, const std::vector<std::string>& metrics = {});
// The same rows as CSV (RFC 4180, a header line; empty cells for nulls):
// run_id, status, seed, deterministic, the config keys that differ between
// the rows, every metric any row recorded (display order), steps,
// state_hash, verification, dir.
std::string format_runs_csv(const nlohmann::json& rows);

// -------------------------------------------------------------- report ----

// HTML (no external resources) for a run directory (has config.json), a
// sweep directory (has sweep.json) or an output directory (an index of its
// runs and sweeps). Every string from the records is escaped. Throws Error
// if `dir` is none of these.
std::string render_report(const std::string& dir);

// A comparison page of two or more run directories: overlaid curves, the
// config keys, environment fields and data fingerprints that differ, the
// first diverging step marked, each run's verification status.
std::string render_comparison(const std::vector<std::string>& run_dirs);

// The index page of an output directory: one row per run and sweep.
std::string render_index(const std::string& output_dir);

// `s` with & < > " ' escaped for HTML text and attribute values.
std::string html_escape(const std::string& s);

}  // namespace mltrain

#endif  // MLTRAIN_EXPERIMENT_H_
