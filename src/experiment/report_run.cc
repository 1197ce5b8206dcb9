// report: the page of one run (its result, curves, config, data,
// environment, evaluations, verifications and attempts).
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "experiment/metrics.h"
#include "experiment/plot.h"
#include "experiment/report_common.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"

namespace mltrain {
namespace report {

using json = nlohmann::json;

std::string run_page(const RunRecord& r) {
  std::ostringstream b;
  const std::string id = r.run_id().empty() ? r.dir : r.run_id();
  b << "<h1>Run " << esc(id) << "</h1>";
  b << "<p>Status <b>" << esc(r.status().empty() ? "?" : r.status()) << "</b>, seed "
    << esc(text(json_at(r.config, "seed"))) << ", deterministic "
    << esc(text(json_at(r.config, "deterministic")));
  if (!json_at(r.config, "model.arch").is_null()) {
    b << ", model " << esc(text(json_at(r.config, "model.arch")));
  }
  const json trainer = json_at(r.run, "trainer");
  b << ", trained by " << esc(trainer.is_string() ? trainer.get<std::string>() : "its own program")
    << ". Verification: " << verification_html(r) << ".</p>";
  // This run's metrics and directions (the ones it declares, else by name).
  MetricColumns directions;
  directions.add(run_metrics(r), declared_directions(r));
  if (r.summary.is_object()) {
    b << "<h2>Result</h2>";
    const json metrics = run_metrics(r);
    std::vector<std::vector<Cell>> rows;
    for (const auto& k : directions.names()) {
      rows.push_back({k, metric_cell(metrics[k]), directions.direction_text(k)});
    }
    if (rows.empty()) {
      b << "<p>No metrics recorded (Run::finish was given none).</p>";
    } else {
      b << table({"metric", "value", "better"}, rows);
    }
    b << "<p>state_sha256 <code>" << esc(r.state_sha256()) << "</code> after "
      << esc(text(json_at(r.summary, "steps"))) << " steps.</p>";
  }
  const std::vector<std::string> keys = metric_keys(r.metrics);
  const StepCurves steps = step_curves(r);
  b << "<h2>Training</h2><div class='charts'>";
  if (!steps.step.empty()) {
    plot::Chart c{
        "Training loss per step (moving average of " + std::to_string(ma_window(steps)) + ")",
        "step", "loss"};
    add_step_loss(&c, steps, "loss", 0, true);
    b << plot::render(c);
  }
  // Per-epoch metrics, two charts by direction (losses and errors rarely
  // share a scale with accuracies).
  plot::Chart lower{"Loss per epoch", "epoch", "loss"},
      higher{"Metrics per epoch", "epoch", "value"};
  for (const auto& k : keys) {
    plot::Series s{k};
    epoch_series(r.metrics, k, &s.x, &s.y);
    s.color = metric_color(k, keys);
    s.points = true;
    const bool down =
        directions.has(k) ? directions.lower_is_better(k) : lower_is_better_by_name(k);
    (down ? lower : higher).series.push_back(s);
    if (down && k.find("loss") == std::string::npos) {
      lower.title = "Losses and errors per epoch (lower is better)";
      lower.y_label = "value";
    }
  }
  b << plot::render(lower) << plot::render(higher);
  {
    plot::Chart lr{"Learning rate", "step", "lr"};
    plot::Series s{"lr", steps.step, steps.lr};
    s.color = 4;
    if (std::none_of(s.y.begin(), s.y.end(), [](double v) { return std::isfinite(v); })) {
      s = plot::Series{"lr"};
      epoch_series(r.metrics, "lr", &s.x, &s.y);
      lr.x_label = "epoch";
      s.color = 4;
    }
    plot::downsample(&s.x, &s.y, 600);
    lr.series.push_back(s);
    b << plot::render(lr);
  }
  b << "</div>";
  if (!r.metrics.empty() && !keys.empty()) {
    std::vector<std::string> head = {"epoch", "step"};
    head.insert(head.end(), keys.begin(), keys.end());
    head.insert(head.end(), {"lr", "seconds"});
    std::vector<std::vector<Cell>> mrows;
    for (const auto& m : r.metrics) {
      std::vector<Cell> row;
      for (const auto& h : head) {
        const json v = json_at(m, h);
        row.push_back(!v.is_number_float() ? Cell(text(v))
                      : h == "lr"          ? num_cell(v, 6)
                      : h == "seconds"     ? num_cell(v)
                                           : metric_cell(v));
      }
      mrows.push_back(row);
    }
    b << table(head, mrows, "", {}, direction_titles(head, directions));
  }
  b << "<h2>Config (run identity)</h2><p>run_id = first 8 hex of sha1(config.json), the "
       "canonical JSON of this object.</p>"
    << pre_json(r.config);
  const json files = json_at(r.data, "files");
  if (files.is_array()) {
    std::vector<std::vector<Cell>> rows;
    for (const auto& f : files) {
      rows.push_back({text(json_at(f, "split")), text(json_at(f, "path")), text(json_at(f, "rows")),
                      text(json_at(f, "sha256"))});
    }
    b << "<h2>Data</h2>" << table({"split", "path", "rows", "sha256"}, rows);
    if (!json_at(r.data, "labels").is_null()) {
      b << "<p>labels " << esc(json_line(json_at(r.data, "labels"))) << ", vocabulary "
        << esc(text(json_at(r.data, "vocab.size"))) << " tokens, sha256 <code>"
        << esc(text(json_at(r.data, "vocab.sha256"))) << "</code></p>";
    }
  }
  if (r.env.is_object()) {
    const json cuda = json_at(r.env, "cuda");
    b << "<h2>Environment</h2>"
      << table({"field", "value"},
               {{"ml-train", text(json_at(r.env, "ml_train.version")) + " (" +
                                 text(json_at(r.env, "ml_train.revision")) + ")"},
                {"compiler", text(json_at(r.env, "compiler"))},
                {"LibTorch", text(json_at(r.env, "libtorch.version"))},
                {"BLAS", text(json_at(r.env, "blas.loaded"))},
                {"threads", json_line(json_at(r.env, "threads"))},
                {"CPU", text(json_at(r.env, "cpu.model"))},
                {"OS", text(json_at(r.env, "os.name")) + ", " + text(json_at(r.env, "os.kernel"))},
                {"CUDA", cuda.is_null() ? "none" : json_line(cuda)}});
  }
  if (r.evaluations.is_object() && !r.evaluations.empty()) {
    // Whatever numbers each evaluation recorded under "metrics".
    MetricColumns columns;
    std::vector<json> values;
    for (auto it = r.evaluations.begin(); it != r.evaluations.end(); ++it) {
      std::map<std::string, double> m;
      collect_metrics(json_at(it.value(), "metrics"), "", &m);
      values.push_back(json(m));
      columns.add(values.back());
    }
    std::vector<std::vector<Cell>> rows;
    std::size_t i = 0;
    for (auto it = r.evaluations.begin(); it != r.evaluations.end(); ++it, ++i) {
      const json& e = it.value();
      std::vector<Cell> row = {it.key(), text(json_at(e, "file.path")),
                               text(json_at(e, "file.rows"))};
      for (const auto& k : columns.names()) row.push_back(metric_cell(values[i].value(k, json())));
      row.push_back(text(json_at(e, "file.sha256")));
      rows.push_back(row);
    }
    std::vector<std::string> head = {"name", "file", "rows"};
    head.insert(head.end(), columns.names().begin(), columns.names().end());
    head.push_back("file sha256");
    b << "<h2>Evaluations</h2>" << table(head, rows, "", {}, direction_titles(head, columns));
  }
  if (r.verifications.is_object() && !r.verifications.empty()) {
    std::vector<std::vector<Cell>> rows;
    for (auto it = r.verifications.begin(); it != r.verifications.end(); ++it) {
      const json& v = it.value();
      std::string vars;
      const json vs = json_at(v, "variations");
      if (vs.is_array()) {
        for (const auto& x : vs) vars += (vars.empty() ? "" : "; ") + text(x);
      }
      rows.push_back({text(json_at(v, "when")), text(json_at(v, "runs")), vars,
                      json_at(v, "identical") == json(true) ? "identical"
                                                            : text(json_at(v, "divergence.text")),
                      text(json_at(v, "divergence.cause.text"))});
    }
    b << "<h2>Verifications</h2>"
      << table({"when", "runs", "variations", "outcome", "likely cause"}, rows);
  }
  const json attempts = json_at(r.run, "attempts");
  if (attempts.is_array()) {
    std::vector<std::vector<Cell>> rows;
    for (const auto& a : attempts) {
      std::string cmd;
      const json command = json_at(a, "command");
      if (command.is_array()) {
        for (const auto& c : command) cmd += (cmd.empty() ? "" : " ") + text(c);
      }
      rows.push_back({text(json_at(a, "started")), text(json_at(a, "ended")),
                      text(json_at(a, "status")), text(json_at(a, "resumed_from_step")), cmd});
    }
    b << "<h2>Attempts</h2>"
      << table({"started", "ended", "status", "resumed from step", "command"}, rows);
  }
  return page("ml-train run " + id, b.str());
}

}  // namespace report
}  // namespace mltrain
