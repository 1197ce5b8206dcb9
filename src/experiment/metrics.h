// Internal: the metric model of the experiment tools. `runs`, `sweep` and
// the report pages show, sort and aggregate whatever metrics the runs
// recorded; the built-in classifier is one user of this, not a special case
// (docs/reproducibility.md, "Metrics").
//
// A run's metrics (run_metrics in experiment.h) are the numbers it recorded
// as results: summary.json (what the loop gave Run::finish) with nested
// objects flattened by '_' ({"val": {"acc": 0.9}} is val_acc), and, for
// names the summary does not hold, the last line of metrics.jsonl (what it
// gave the last record_epoch). Bookkeeping is not a metric (is_bookkeeping).
//
// A metric's direction: what the runs declare in summary.json
// ("metric_directions": {"NAME": "lower" | "higher"}), otherwise inferred
// from the name (lower_is_better_by_name); a command may override both
// (runs --sort NAME:asc).
#ifndef MLTRAIN_SRC_EXPERIMENT_METRICS_H_
#define MLTRAIN_SRC_EXPERIMENT_METRICS_H_

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "mltrain/records.h"

namespace mltrain {

// The key of summary.json under which a run declares its metrics'
// directions.
constexpr const char* kMetricDirections = "metric_directions";

// True for a (flattened) name that is not a result: what Run adds to the
// summary and the metrics lines (run_id, state_hash, state_sha256, steps,
// epochs, epoch, step, model_file), wall times (a name ending in "seconds"),
// and a last part (after '_', '.' or '-') "n" or "count" (sample counts such
// as val.n) or "lr" (the learning rate).
bool is_bookkeeping(const std::string& name);

// Adds the metrics of one recorded object to *out: numbers only, nested
// objects flattened with '_' under `prefix`, bookkeeping left out, names
// already in *out kept.
void collect_metrics(const nlohmann::json& object, const std::string& prefix,
                     std::map<std::string, double>* out);

// The directions a run declares in summary.json, as {"NAME": "lower" |
// "higher"} ("min"/"minimize" and "max"/"maximize" are read as these; other
// values are ignored), {} if none.
nlohmann::json declared_directions(const RunRecord& run);

// Inferred from the name: a part of it that names an error or a cost (loss,
// mse, rmse, mae, mape, error, err, perplexity, ppl, nll, wer, cer,
// regret, ...) makes lower better; anything else is higher-is-better.
bool lower_is_better_by_name(const std::string& name);

// A metric's value as a table shows it: 4 decimals from 0.1 up to 1e6 (and
// for 0), otherwise 4 significant digits (0.09000, 0.0001234, 1.500e+07).
std::string metric_text(double v);
std::string metric_text(const nlohmann::json& v);  // "-" for a non-number

// "mean +- std" (`pm` between them): the std with the mean's 4 decimals
// when the mean shows 4 decimals, else both with 4 significant digits.
std::string metric_pm(double mean, double std, const std::string& pm = " +- ");

// The closest of `known` to `name` (did you mean), "" when none is close.
std::string closest_name(const std::string& name, const std::vector<std::string>& known);

// The metrics of a set of runs: the union of their names in display order
// and each one's direction.
//
// Display order: metrics of the validation split first (a first part val,
// valid, validation, dev or eval), then names without a split, then test,
// then train; by name within each. The first name is the headline metric
// (the one a page plots when it plots one).
class MetricColumns {
 public:
  // One run's metrics ({name: number}) and declared directions (or null).
  void add(const nlohmann::json& metrics, const nlohmann::json& declared = nullptr);
  // Overrides the direction of `name` (a command-line choice).
  void set_direction(const std::string& name, bool lower);

  const std::vector<std::string>& names() const { return names_; }
  bool has(const std::string& name) const { return seen_.count(name) > 0; }
  bool empty() const { return names_.empty(); }
  // Override, else the first declaration, else inferred from the name.
  bool lower_is_better(const std::string& name) const;
  // "lower is better (declared)", "higher is better (from the name)", ...
  std::string direction_text(const std::string& name) const;

 private:
  std::vector<std::string> names_;  // display order
  std::set<std::string> seen_;
  std::map<std::string, bool> declared_, overridden_;
};

// Sorts metric names in display order (see MetricColumns).
void sort_metric_names(std::vector<std::string>* names);

// A row of `runs` or of a sweep carries its run's metrics as "metrics"
// ({name: number}), its declared directions as "metric_directions" (when
// any), and each metric once more at the top level under its own name,
// unless the row already has a field of that name (run_id, status, ...).
void put_metrics(const nlohmann::json& metrics, const nlohmann::json& declared,
                 nlohmann::json* row);
// The metrics of such a row: "metrics" when present, otherwise (a sweep.json
// written before rows had it) its numeric fields other than exit_code, seed
// and bookkeeping.
nlohmann::json row_metrics(const nlohmann::json& row);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_EXPERIMENT_METRICS_H_
