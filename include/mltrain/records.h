// Run records: what a run directory holds, read back. Whoever trained the run
// (the built-in trainer or a program of yours using the Run API, run.h), the
// experiment tools (verify, diff, report, runs) read it through these types.
// Nothing here depends on LibTorch.
#ifndef MLTRAIN_RECORDS_H_
#define MLTRAIN_RECORDS_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mltrain {

// Everything a run directory records. A file that is absent reads as null
// (JSON files) or as no lines (JSONL files); a torn last line of a JSONL file
// (a process killed mid-write) is ignored.
struct RunRecord {
  std::string dir;
  nlohmann::json config;                // config.json: the identity (hashed for the run id)
  nlohmann::json run;                   // run.json: status, runtime, seeding, attempts
  nlohmann::json env;                   // env.json: environment manifest
  nlohmann::json data;                  // data.json: data fingerprints
  nlohmann::json summary;               // summary.json: final metrics and state hash
  std::vector<nlohmann::json> metrics;  // metrics.jsonl: one object per epoch
  std::vector<nlohmann::json> trace;    // trace.jsonl: one object per step
  nlohmann::json evaluations;  // evaluations/<name>.json by name (ml-train evaluate); {} if none
  // verifications/<name>.json by name: what `ml-train verify` found when it
  // checked this run's config (see verification_status in experiment.h).
  nlohmann::json verifications;

  // run.json's status (running|completed|failed|interrupted), "completed"
  // when run.json is missing but summary.json exists, "" when neither.
  std::string status() const;
  // sha256 of config.json's bytes, first 8 hex (the directory name of a run
  // under its output directory).
  std::string run_id() const;
  // summary.json's state_sha256 / state_hash, "" when absent.
  std::string state_sha256() const;
  std::string state_hash() const;
};

// True when `dir` holds a config.json.
bool is_run_dir(const std::string& dir);

// What load_run reads: everything, or only config.json, run.json,
// summary.json, verifications/ and the last line of metrics.jsonl (an index
// of thousands of runs). A brief RunRecord's `metrics` holds at most that
// one line, and none when it does not read as a metrics line (a damaged
// tail does not make the run unreadable; a full load reports it).
enum class RunParts { kAll, kBrief };

// Reads a run directory. Throws Error (exit 2) if `dir` is not a directory or
// has no config.json, or if a file is not valid JSON (naming file:line).
RunRecord load_run(const std::string& dir, RunParts parts = RunParts::kAll);

// Records an evaluation of the run (ml-train evaluate) as
// <run_dir>/evaluations/<name>.json, written atomically. `name` is made of
// letters, digits, '.', '_' and '-'. Throws Error otherwise.
void record_evaluation(const std::string& run_dir, const std::string& name,
                       const nlohmann::json& record);

// Records what `verify` found as <run_dir>/verifications/<name>.json, written
// atomically; the same rules as record_evaluation.
void record_verification(const std::string& run_dir, const std::string& name,
                         const nlohmann::json& record);

// The value at a dotted path ("model.arch") of a JSON object, or null when
// any part is missing or not an object.
nlohmann::json json_at(const nlohmann::json& j, const std::string& dotted_path);

}  // namespace mltrain

#endif  // MLTRAIN_RECORDS_H_
