// Proving the guarantees: verify, reproduce and diff.
//
// These run `ml-train train` as separate processes (the path of the
// executable is passed in), so every run starts from a fresh process state,
// exactly as a user's reruns would.
#ifndef MLTRAIN_COMPARE_H_
#define MLTRAIN_COMPARE_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mltrain/config.h"

namespace mltrain {

// Everything a run directory records.
struct RunRecord {
  std::string dir;
  nlohmann::json config, run, env, data, summary;  // null when absent
  std::vector<nlohmann::json> metrics, trace;
};

// Throws Error if `dir` is not a run directory (no config.json).
RunRecord load_run(const std::string& dir);

// First step at which two traces differ (loss bits, lr, state hash, or one
// trace ending early). step = -1 when identical. last_equal_state is the last
// step before it whose recorded state hash matched (0 if none).
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

// Config, runtime, environment, data, metrics, trace and hash differences.
nlohmann::json diff_runs(const RunRecord& a, const RunRecord& b);
// Human-readable rendering of diff_runs().
std::string format_diff(const nlohmann::json& diff);

struct VerifyOptions {
  std::string self_exe;             // path of the ml-train executable
  int repeats = 3;                  // identical runs
  std::vector<std::string> vary;    // "runtime.KEY=V1,V2,..."
  std::int64_t interrupt_at = 0;    // SIGKILL one run at this step, then resume it
  std::ostream* out = nullptr;
};

struct VerifyResult {
  bool identical = false;
  std::string dir;         // where the runs were written
  nlohmann::json runs;     // [{name, variation, dir, state_hash, verdict}]
  std::string divergence;  // "first divergence: step S, tensor T (grad)" or ""
};

// Trains cfg several times (under <output_dir>/verify/<run_id>/<n>/), with
// the variations asked for, and compares every run's metrics (exactly, wall
// times aside), step trace and state hash with the first. On a difference it
// re-runs the reference and the first differing run up to the first
// diverging step, dumping per-tensor hashes (batch, parameters, gradients,
// optimizer state), and names the first diverging tensor.
VerifyResult verify(const Config& cfg, const VerifyOptions& options);

struct ReproduceOptions {
  std::string self_exe;
  bool allow_data_change = false;
  std::ostream* out = nullptr;
};

struct ReproduceResult {
  bool match = false;
  std::string dir;                // the new run
  nlohmann::json env_diff;        // environment fields that differ from env.json
  nlohmann::json data_changes;    // data files whose fingerprint differs
  nlohmann::json diff;            // diff_runs(original, new)
};

// Re-runs a saved run from its config.json and recorded runtime into
// RUN_DIR/reproduce/<n>/ and compares it with what the run recorded.
// Throws Error(kFailure) when a data file changed and !allow_data_change.
ReproduceResult reproduce(const std::string& run_dir, const ReproduceOptions& options);

// The runs under output_dir (directories holding a config.json), filtered by
// `where` ("dotted.key=VALUE" on the config: numbers compare as numbers) and
// sorted by `sort_by` (a summary metric: val_acc, val_f1, val_loss, test_acc,
// test_f1, steps; best first) or by run id. Each row: run_id, dir, status,
// arch, seed, deterministic, val_acc, val_f1, test_acc, state_hash.
nlohmann::json list_runs(const std::string& output_dir, const std::vector<std::string>& where,
                         const std::string& sort_by);
std::string format_runs(const nlohmann::json& rows);

}  // namespace mltrain

#endif  // MLTRAIN_COMPARE_H_
