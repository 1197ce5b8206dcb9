// Internal: what the report pages share. One page per file:
// report_run.cc (a run), report_sweep.cc (a sweep), report_compare.cc (two or
// more runs), report_index.cc (an output directory); this header and
// report_common.cc hold the page frame, tables, the curves read from the
// records and the verification badge. Every string from the records is
// escaped here (esc, table, pre_json) or in plot::render.
#ifndef MLTRAIN_SRC_EXPERIMENT_REPORT_COMMON_H_
#define MLTRAIN_SRC_EXPERIMENT_REPORT_COMMON_H_

#include <cstddef>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiment/metrics.h"
#include "experiment/plot.h"
#include "mltrain/records.h"

namespace mltrain {
namespace report {

inline const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string esc(const std::string& s);
// A record value as text: strings unquoted, null as "-".
std::string text(const nlohmann::json& v);

// A whole HTML document: the shared style; `script` adds the click-to-sort
// script of table.sortable; extra_script is a page's own.
std::string page(const std::string& title, const std::string& body, bool script = false,
                 const char* extra_script = nullptr);

// A table cell: text (escaped here), an optional class and numeric sort key.
struct Cell {
  std::string text;
  std::string cls;
  double sort = kNaN;
  Cell(const std::string& t = "") : text(t) {}  // NOLINT: rows are written as {"a", "b"}
  Cell(const char* t) : text(t) {}              // NOLINT
};

Cell num_cell(const nlohmann::json& v, int digits = 4);

// head_titles[i], when not empty, is column i's tooltip (a metric's
// direction).
std::string table(const std::vector<std::string>& head, const std::vector<std::vector<Cell>>& rows,
                  const std::string& cls = "", const std::vector<std::string>& row_cls = {},
                  const std::vector<std::string>& head_titles = {});

std::string pre_json(const nlohmann::json& j);

// A trace line's loss: float32 bits as 8 hex digits (or a plain number).
double trace_loss(const nlohmann::json& line);

struct StepCurves {
  std::vector<double> step, loss, lr;
};

StepCurves step_curves(const RunRecord& r);

// A per-epoch metric as (epoch, value) pairs; epochs without it are skipped.
void epoch_series(const std::vector<nlohmann::json>& metrics, const std::string& key,
                  std::vector<double>* x, std::vector<double>* y);

// Numeric per-epoch metrics other than bookkeeping (is_bookkeeping), in
// display order (sort_metric_names).
std::vector<std::string> metric_keys(const std::vector<nlohmann::json>& metrics);

// A colour per metric of `all`, skipping the learning rate's.
int metric_color(const std::string& key, const std::vector<std::string>& all);

// The metrics of runs (run_metrics) with the directions they declare.
MetricColumns metric_columns(const std::vector<RunRecord>& runs);

// A metric's value (metric_text), right-aligned, sortable.
Cell metric_cell(const nlohmann::json& v);

// Tooltips for a table's head: each metric's direction, "" for the rest.
std::vector<std::string> direction_titles(const std::vector<std::string>& head,
                                          const MetricColumns& metrics);

// The moving-average window of the per-step loss chart: about 1/25 of the
// run, at least 5 steps; none (1) for a run of under 10 steps.
std::size_t ma_window(const StepCurves& s);

// The per-step loss chart: the raw losses (down-sampled, light) and their
// moving average (window in the title), one colour per run.
void add_step_loss(plot::Chart* c, const StepCurves& s, const std::string& name, int color,
                   bool raw);

// A config or environment value in a table: exact, strings unquoted.
std::string exact(const nlohmann::json& v);

// What verify found for the run, as a coloured span.
std::string verification_html(const RunRecord& r);

// The pages render_report chooses between (render_comparison and
// render_index are public, in experiment.h).
std::string run_page(const RunRecord& r);
std::string sweep_page(const nlohmann::json& sweep);

}  // namespace report
}  // namespace mltrain

#endif  // MLTRAIN_SRC_EXPERIMENT_REPORT_COMMON_H_
