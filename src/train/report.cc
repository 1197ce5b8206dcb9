#include "mltrain/report.h"

#include <algorithm>
#include <iomanip>
#include <sstream>
#include <vector>

#include "mltrain/compare.h"
#include "mltrain/error.h"
#include "mltrain/fs.h"
#include "train/run_dir.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o.push_back(c);
    }
  }
  return o;
}

std::string text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fixed_decimals(v.get<double>());
  return v.dump();
}

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
    << "<text x='" << W - R - 50 << "' y='" << H - 10 << "' font-size='11'>epoch " << n << "</text>";
  for (std::size_t k = 0; k < series.size(); ++k) {
    o << "<polyline fill='none' stroke-width='2' stroke='" << kColors[k % 4] << "' points='";
    const auto& ys = series[k].second;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      double x = L + (n > 1 ? (W - L - R) * static_cast<double>(i) / static_cast<double>(n - 1) : 0);
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

std::string table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
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

std::string run_report(const RunRecord& r) {
  std::ostringstream b;
  const std::string run_id = r.summary.is_object() ? r.summary.value("run_id", "") : "";
  const std::string id = run_id.empty() ? r.dir : run_id;
  b << "<h1>Run " << esc(id) << "</h1>";
  b << "<p>Status <b>" << esc(r.run.is_object() ? r.run.value("status", "?") : "?") << "</b>, seed "
    << esc(text(r.config.value("seed", json(nullptr)))) << ", deterministic "
    << esc(text(r.config.value("deterministic", json(nullptr)))) << ", model "
    << esc(text(r.config["model"].value("arch", json(nullptr)))) << ".</p>";
  if (r.summary.is_object()) {
    b << "<h2>Result</h2>"
      << table({"split", "accuracy", "macro-F1", "loss"},
               {{"val", text(r.summary["val"]["acc"]), text(r.summary["val"]["f1"]),
                 text(r.summary["val"]["loss"])},
                {"test", r.summary["test"].is_object() ? text(r.summary["test"]["acc"]) : "-",
                 r.summary["test"].is_object() ? text(r.summary["test"]["f1"]) : "-",
                 r.summary["test"].is_object() ? text(r.summary["test"]["loss"]) : "-"}})
      << "<p>state_sha256 <code>" << esc(r.summary.value("state_sha256", "")) << "</code> after "
      << esc(text(r.summary["steps"])) << " steps.</p>";
  }
  std::vector<double> tl, vl, va, vf;
  std::vector<std::vector<std::string>> mrows;
  for (const auto& m : r.metrics) {
    tl.push_back(m.value("train_loss", 0.0));
    vl.push_back(m.value("val_loss", 0.0));
    va.push_back(m.value("val_acc", 0.0));
    vf.push_back(m.value("val_f1", 0.0));
    mrows.push_back({text(m["epoch"]), text(m["step"]), text(m["train_loss"]), text(m["val_loss"]),
                     text(m["val_acc"]), text(m["val_f1"]), text(m["lr"]), text(m["seconds"])});
  }
  if (!r.metrics.empty()) {
    b << "<h2>Training</h2>" << svg_chart("loss", {{"train_loss", tl}, {"val_loss", vl}})
      << svg_chart("validation", {{"val_acc", va}, {"val_f1", vf}})
      << table({"epoch", "step", "train_loss", "val_loss", "val_acc", "val_f1", "lr", "seconds"}, mrows);
  }
  b << "<h2>Config (run identity)</h2><p>run_id = first 8 hex of sha1(config.json), the "
       "canonical JSON of this object.</p><pre>"
    << esc(r.config.dump(2)) << "</pre>";
  if (r.data.is_object()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : r.data.value("files", json::array())) {
      rows.push_back({text(f["split"]), text(f["path"]), text(f["rows"]), text(f["sha256"])});
    }
    b << "<h2>Data</h2>" << table({"split", "path", "rows", "sha256"}, rows) << "<p>labels "
      << esc(r.data.value("labels", json::array()).dump()) << ", vocabulary "
      << esc(text(r.data["vocab"]["size"])) << " tokens, sha256 <code>"
      << esc(text(r.data["vocab"]["sha256"])) << "</code></p>";
  }
  if (r.env.is_object()) {
    b << "<h2>Environment</h2>"
      << table({"field", "value"},
               {{"ml-train", text(r.env["ml_train"]["version"]) + " (" + text(r.env["ml_train"]["revision"]) + ")"},
                {"compiler", text(r.env["compiler"])},
                {"LibTorch", text(r.env["libtorch"]["version"])},
                {"BLAS", text(r.env["blas"]["loaded"])},
                {"threads", r.env["threads"].dump()},
                {"CPU", text(r.env["cpu"]["model"])},
                {"OS", text(r.env["os"]["name"]) + ", " + text(r.env["os"]["kernel"])},
                {"CUDA", r.env["cuda"].is_null() ? "none" : r.env["cuda"].dump()}});
  }
  if (r.run.is_object() && r.run.contains("attempts")) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : r.run["attempts"]) {
      std::string cmd;
      for (const auto& c : a.value("command", json::array())) cmd += (cmd.empty() ? "" : " ") + text(c);
      rows.push_back({text(a["started"]), text(a.value("ended", json(nullptr))), text(a["status"]),
                      text(a["resumed_from_step"]), cmd});
    }
    b << "<h2>Attempts</h2>" << table({"started", "ended", "status", "resumed from step", "command"}, rows);
  }
  return page("ml-train run " + id, b.str());
}

std::string sweep_report(const json& s) {
  std::ostringstream b;
  b << "<h1>Sweep " << esc(text(s["sweep_id"])) << "</h1><h2>Groups (mean &plusmn; sample std over seeds)</h2>";
  auto pm = [](const json& v) {
    return v.is_null() ? std::string("-") : text(v["mean"]) + " ± " + text(v["std"]);
  };
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : s["groups"]) {
    rows.push_back({text(g["group"]), text(g["n"]), pm(g["val_acc"]), pm(g["val_f1"]), pm(g["test_acc"])});
  }
  b << table({"group", "n", "val_acc", "val_f1", "test_acc"}, rows);
  rows.clear();
  for (const auto& r : s["runs"]) {
    std::string ov;
    for (const auto& x : r["overrides"]) ov += (ov.empty() ? "" : " ") + text(x);
    rows.push_back({text(r["run_id"]), ov, text(r["status"]), text(r.value("val_acc", json(nullptr))),
                    text(r.value("test_acc", json(nullptr))), text(r.value("state_hash", json(nullptr)))});
  }
  b << "<h2>Runs</h2>" << table({"run_id", "overrides", "status", "val_acc", "test_acc", "state_hash"}, rows)
    << "<h2>Base config</h2><pre>" << esc(s["spec"]["base"].dump(2)) << "</pre>";
  return page("ml-train sweep " + text(s["sweep_id"]), b.str());
}

}  // namespace

std::string render_report(const std::string& dir) {
  if (path_exists(join_path(dir, "sweep.json"))) return sweep_report(read_json_file(join_path(dir, "sweep.json")));
  if (!path_exists(join_path(dir, "config.json"))) {
    fail_usage(dir + ": neither a run directory (config.json) nor a sweep directory (sweep.json)");
  }
  return run_report(load_run(dir));
}

}  // namespace mltrain
