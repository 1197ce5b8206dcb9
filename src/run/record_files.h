// Internal: the files of a run directory (and a sweep's sweep.json) read
// with their schema checked, so that everything downstream can rely on the
// types of the fields it uses. Each reader throws Error (exit 2) naming the
// file and the field ("run.json: field 'status': expected one of ...").
// Fields a program of its own adds (its metrics, its summary values) are
// left as they are.
#ifndef MLTRAIN_SRC_RUN_RECORD_FILES_H_
#define MLTRAIN_SRC_RUN_RECORD_FILES_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mltrain {

// Any JSON object (config.json, env.json).
nlohmann::json read_object_file(const std::string& path);
// run.json: status one of running|completed|failed|interrupted; trainer a
// string or null; attempts a list of objects (status, resumed_from_step).
nlohmann::json read_run_file(const std::string& path);
// summary.json: state_hash (16 hex), state_sha256 (64 hex), run_id (8 hex),
// steps and epochs (integers >= 0); val/test objects or null whose acc, f1,
// loss are numbers.
nlohmann::json read_summary_file(const std::string& path);
// data.json: files a list of {split, path, sha256 (64 hex), rows}; labels a
// list of strings; vocab an object.
nlohmann::json read_data_file(const std::string& path);
// metrics.jsonl / trace.jsonl: objects; epoch, step, batch integers; trace
// loss an 8-hex string, state a 16-hex string, lr a number.
std::vector<nlohmann::json> read_metrics_file(const std::string& path);
std::vector<nlohmann::json> read_trace_file(const std::string& path);
// sweep.json: sweep_id a string, runs and groups lists of objects.
nlohmann::json read_sweep_file(const std::string& path);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_RUN_RECORD_FILES_H_
