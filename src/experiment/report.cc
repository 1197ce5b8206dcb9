// report: self-contained HTML pages of a run or a sweep, for sharing a
// result with the evidence behind it.
#include <algorithm>
#include <iomanip>
#include <sstream>
#include <vector>

#include "core/format.h"
#include "core/fs.h"
#include "core/json_io.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "run/layout.h"
#include "run/record_files.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::string esc(const std::string& s) { return html_escape(s); }

std::string text(const json& v) { return json_text(v); }

// A line chart of per-epoch series as inline SVG.
std::string svg_chart(const std::string& title,
                      const std::vector<std::pair<std::string, std::vector<double>>>& series) {
  const double W = 420, H = 220, L = 50, R = 10, T = 25, B = 30;
  double lo = 1e300, hi = -1e300;
  std::size_t n = 0;
  for (const auto& s : series) {
    for (double v : s.second) lo = std::min(lo, v), hi = std::max(hi, v);
    n = std::max(n, s.second.size());
  }
  if (n == 0) return "";
  if (hi <= lo) hi = lo + 1e-9;
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  std::ostringstream o;
  o << "<svg width='" << W << "' height='" << H << "' role='img' aria-label='" << esc(title) << "'>"
    << "<text x='" << L << "' y='15' font-weight='bold'>" << esc(title) << "</text>"
    << "<line x1='" << L << "' y1='" << H - B << "' x2='" << W - R << "' y2='" << H - B
    << "' stroke='#888'/><line x1='" << L << "' y1='" << T << "' x2='" << L << "' y2='" << H - B
    << "' stroke='#888'/>"
    << "<text x='2' y='" << T + 5 << "' font-size='11'>" << text(json(hi)) << "</text>"
    << "<text x='2' y='" << H - B << "' font-size='11'>" << text(json(lo)) << "</text>"
    << "<text x='" << L << "' y='" << H - 10 << "' font-size='11'>epoch 1</text>"
    << "<text x='" << W - R - 50 << "' y='" << H - 10 << "' font-size='11'>epoch " << n
    << "</text>";
  for (std::size_t k = 0; k < series.size(); ++k) {
    o << "<polyline fill='none' stroke-width='2' stroke='" << kColors[k % 4] << "' points='";
    const auto& ys = series[k].second;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      double x =
          L + (n > 1 ? (W - L - R) * static_cast<double>(i) / static_cast<double>(n - 1) : 0);
      double y = H - B - (H - T - B) * (ys[i] - lo) / (hi - lo);
      o << x << "," << y << " ";
    }
    o << "'/><text x='" << W - R - 110 << "' y='" << T + 14 * (k + 1) << "' font-size='11' fill='"
      << kColors[k % 4] << "'>" << esc(series[k].first) << "</text>";
  }
  o << "</svg>";
  return o.str();
}

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>" + esc(title) +
         "</title><style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
         "text-align:left;font-size:13px}pre{background:#f6f6f6;padding:8px;overflow-x:auto;"
         "font-size:12px}code{font-size:12px}</style></head><body>\n" +
         body + "\n</body></html>\n";
}

std::string table(const std::vector<std::string>& head,
                  const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream o;
  o << "<table><tr>";
  for (const auto& h : head) o << "<th>" << esc(h) << "</th>";
  o << "</tr>";
  for (const auto& r : rows) {
    o << "<tr>";
    for (const auto& c : r) o << "<td>" << esc(c) << "</td>";
    o << "</tr>";
  }
  o << "</table>\n";
  return o.str();
}

// Numeric per-epoch metrics other than bookkeeping, in key order.
std::vector<std::string> metric_keys(const std::vector<json>& metrics) {
  std::vector<std::string> keys;
  for (const auto& m : metrics) {
    if (!m.is_object()) continue;
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string& k = it.key();
      const bool bookkeeping = k == "epoch" || k == "step" || k == "lr" ||
                               (k.size() >= 7 && k.compare(k.size() - 7, 7, "seconds") == 0);
      if (!bookkeeping && it.value().is_number() &&
          std::find(keys.begin(), keys.end(), k) == keys.end()) {
        keys.push_back(k);
      }
    }
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string run_report(const RunRecord& r) {
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
    << ".</p>";
  if (r.summary.is_object()) {
    b << "<h2>Result</h2>";
    if (json_at(r.summary, "val").is_object()) {
      auto split_row = [&](const char* split) {
        const json s = json_at(r.summary, split);
        return std::vector<std::string>{split, text(json_at(s, "acc")), text(json_at(s, "f1")),
                                        text(json_at(s, "loss"))};
      };
      b << table({"split", "accuracy", "macro-F1", "loss"}, {split_row("val"), split_row("test")});
    } else {
      std::vector<std::vector<std::string>> rows;
      for (auto it = r.summary.begin(); it != r.summary.end(); ++it) {
        if (it.value().is_number() && it.key().find("seconds") == std::string::npos) {
          rows.push_back({it.key(), text(it.value())});
        }
      }
      b << table({"metric", "value"}, rows);
    }
    b << "<p>state_sha256 <code>" << esc(r.state_sha256()) << "</code> after "
      << esc(text(json_at(r.summary, "steps"))) << " steps.</p>";
  }
  const std::vector<std::string> keys = metric_keys(r.metrics);
  if (!r.metrics.empty() && !keys.empty()) {
    std::vector<std::pair<std::string, std::vector<double>>> losses, others;
    for (const auto& k : keys) {
      std::vector<double> ys;
      for (const auto& m : r.metrics) {
        const json v = json_at(m, k);
        ys.push_back(v.is_number() ? v.get<double>() : 0.0);
      }
      (k.find("loss") != std::string::npos ? losses : others).emplace_back(k, ys);
    }
    b << "<h2>Training</h2>";
    if (!losses.empty()) b << svg_chart("loss", losses);
    if (!others.empty()) b << svg_chart(losses.empty() ? "metrics" : "validation", others);
    std::vector<std::string> head = {"epoch", "step"};
    head.insert(head.end(), keys.begin(), keys.end());
    head.insert(head.end(), {"lr", "seconds"});
    std::vector<std::vector<std::string>> mrows;
    for (const auto& m : r.metrics) {
      std::vector<std::string> row;
      for (const auto& h : head) row.push_back(text(json_at(m, h)));
      mrows.push_back(row);
    }
    b << table(head, mrows);
  }
  b << "<h2>Config (run identity)</h2><p>run_id = first 8 hex of sha1(config.json), the "
       "canonical JSON of this object.</p><pre>"
    << esc(r.config.dump(2, ' ', false, json::error_handler_t::replace)) << "</pre>";
  const json files = json_at(r.data, "files");
  if (files.is_array()) {
    std::vector<std::vector<std::string>> rows;
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
    std::vector<std::vector<std::string>> rows;
    for (auto it = r.evaluations.begin(); it != r.evaluations.end(); ++it) {
      const json& e = it.value();
      rows.push_back({it.key(), text(json_at(e, "file.path")), text(json_at(e, "file.rows")),
                      text(json_at(e, "metrics.accuracy")), text(json_at(e, "metrics.macro_f1")),
                      text(json_at(e, "file.sha256"))});
    }
    b << "<h2>Evaluations</h2>"
      << table({"name", "file", "rows", "accuracy", "macro-F1", "file sha256"}, rows);
  }
  const json attempts = json_at(r.run, "attempts");
  if (attempts.is_array()) {
    std::vector<std::vector<std::string>> rows;
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

// `s` has passed read_sweep_file: runs and groups are lists of objects.
std::string sweep_report(const json& s) {
  std::ostringstream b;
  const std::string id = text(json_at(s, "sweep_id"));
  b << "<h1>Sweep " << esc(id) << "</h1><h2>Groups (mean &plusmn; sample std over seeds)</h2>";
  auto pm = [](const json& v) {
    return v.is_object() ? text(json_at(v, "mean")) + " ± " + text(json_at(v, "std"))
                         : std::string("-");
  };
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : s.value("groups", json::array())) {
    rows.push_back({text(json_at(g, "group")), text(json_at(g, "n")), pm(json_at(g, "val_acc")),
                    pm(json_at(g, "val_f1")), pm(json_at(g, "test_acc"))});
  }
  b << table({"group", "n", "val_acc", "val_f1", "test_acc"}, rows);
  rows.clear();
  for (const auto& r : s.value("runs", json::array())) {
    std::string ov;
    for (const auto& x : r.value("overrides", json::array()))
      ov += (ov.empty() ? "" : " ") + text(x);
    rows.push_back({text(json_at(r, "run_id")), ov, text(json_at(r, "status")),
                    text(json_at(r, "val_acc")), text(json_at(r, "test_acc")),
                    text(json_at(r, "state_hash"))});
  }
  b << "<h2>Runs</h2>"
    << table({"run_id", "overrides", "status", "val_acc", "test_acc", "state_hash"}, rows)
    << "<h2>Base config</h2><pre>"
    << esc(json_at(s, "spec.base").dump(2, ' ', false, json::error_handler_t::replace)) << "</pre>";
  return page("ml-train sweep " + id, b.str());
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        o.push_back(c);
    }
  }
  return o;
}

std::string render_report(const std::string& dir) {
  const std::string sweep_file = join_path(dir, layout::kSweepFile);
  if (path_exists(sweep_file)) return sweep_report(read_sweep_file(sweep_file));
  if (!is_run_dir(dir)) {
    fail_usage(dir + ": neither a run directory (config.json) nor a sweep directory (sweep.json)");
  }
  return run_report(load_run(dir));
}

}  // namespace mltrain
