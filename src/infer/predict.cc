// predict and evaluate: a trained run on files (include/mltrain/infer.h).
#include <algorithm>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <thread>

#include "mltrain/config.h"
#include "mltrain/data.h"
#include "mltrain/error.h"
#include "mltrain/files.h"
#include "mltrain/format.h"
#include "mltrain/infer.h"
#include "mltrain/records.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

int threads_or_cores(int threads) {
  return threads > 0 ? threads
                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

TextFile read_input(const Predictor& p, const std::string& path, const std::string& format,
                    const ReadOptions& ro) {
  const Config& cfg = p.config();
  const std::string file = path == "-" ? path : require_data_file(path);
  TextFile f = read_examples(file, format, cfg.data.text_field, cfg.data.label_field, ro);
  return f;
}

std::vector<std::string> texts_of(const TextFile& f) {
  std::vector<std::string> texts;
  texts.reserve(f.rows.size());
  for (const auto& ex : f.rows) texts.push_back(ex.text);
  return texts;
}

int argmax(const std::vector<float>& probs) {
  return static_cast<int>(std::max_element(probs.begin(), probs.end()) - probs.begin());
}

}  // namespace

std::int64_t predict_file(const Predictor& p, const std::string& path, const PredictOptions& o,
                          std::ostream& out, std::ostream* log) {
  ReadOptions ro;
  ro.require_label = false;
  ro.skip_bad = o.skip_bad;
  const TextFile f = read_input(p, path, o.format, ro);
  if (log != nullptr) {
    for (const auto& s : f.skipped) *log << "ml-train: warning: skipped " << s << "\n";
  }
  const auto probs = p.probabilities(texts_of(f), threads_or_cores(o.threads));
  const auto& labels = p.labels();
  for (std::size_t i = 0; i < f.rows.size(); ++i) {
    const Example& ex = f.rows[i];
    json row = {{"id", ex.id.empty() ? json(ex.line) : json(ex.id)},
                {"line", ex.line},
                {"label", labels[static_cast<std::size_t>(argmax(probs[i]))]}};
    json all = json::object();
    for (std::size_t c = 0; c < labels.size(); ++c) all[labels[c]] = probs[i][c];
    row["probs"] = all;
    if (o.top_k > 0) {
      std::vector<std::size_t> order(labels.size());
      for (std::size_t c = 0; c < order.size(); ++c) order[c] = c;
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return probs[i][a] > probs[i][b]; });
      json top = json::array();
      for (std::size_t k = 0; k < order.size() && k < static_cast<std::size_t>(o.top_k); ++k) {
        top.push_back({labels[order[k]], probs[i][order[k]]});
      }
      row["top"] = top;
    }
    out << json_line(row) << "\n";
  }
  return static_cast<std::int64_t>(f.rows.size());
}

json evaluate_file(const std::string& run_dir, const std::string& path, const EvaluateOptions& o) {
  const Predictor p(run_dir);
  const TextFile f = read_input(p, path, o.format, ReadOptions{});
  const auto& labels = p.labels();
  std::vector<int> truth, predicted;
  for (const auto& ex : f.rows) {
    const auto it = std::find(labels.begin(), labels.end(), ex.label);
    if (it == labels.end()) {
      std::string known;
      for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
      fail_usage(f.path + ":" + std::to_string(ex.line) + ": label \"" + ex.label +
                 "\" is not one the run knows (" + known + ")");
    }
    truth.push_back(static_cast<int>(it - labels.begin()));
  }
  for (const auto& probs : p.probabilities(texts_of(f), threads_or_cores(o.threads))) {
    predicted.push_back(argmax(probs));
  }
  std::string name = o.name;
  if (name.empty()) {
    name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
    }
  }
  const json record = {
      {"name", name},
      {"run_id", p.run_id()},
      {"created", now_iso8601()},
      {"file", {{"path", json_text_or_bytes(path)}, {"sha256", f.sha256}, {"rows", f.rows.size()}}},
      {"metrics", classification_metrics(labels, truth, predicted)}};
  record_evaluation(run_dir, name, record);
  return record;
}

std::string format_evaluation(const json& r) {
  std::ostringstream o;
  const json& m = r["metrics"];
  o << "evaluation " << json_text(r["name"]) << " of run " << json_text(r["run_id"]) << " on "
    << json_text(json_at(r, "file.path")) << " (" << json_text(json_at(r, "file.rows"))
    << " rows)\n"
    << "accuracy " << fixed_decimals(m["accuracy"].get<double>()) << "  macro-F1 "
    << fixed_decimals(m["macro_f1"].get<double>()) << "\n"
    << std::left << std::setw(16) << "class" << std::setw(11) << "precision" << std::setw(9)
    << "recall" << std::setw(9) << "f1"
    << "support\n";
  for (const auto& c : m["classes"]) {
    o << std::setw(16) << json_text(c["label"]) << std::setw(11)
      << fixed_decimals(c["precision"].get<double>()) << std::setw(9)
      << fixed_decimals(c["recall"].get<double>()) << std::setw(9)
      << fixed_decimals(c["f1"].get<double>()) << json_text(c["support"]) << "\n";
  }
  o << "confusion (rows: true, columns: predicted)\n" << std::setw(16) << "";
  for (const auto& l : m["labels"]) o << std::setw(10) << json_text(l);
  o << "\n";
  for (std::size_t i = 0; i < m["confusion"].size(); ++i) {
    o << std::setw(16) << json_text(m["labels"][i]);
    for (const auto& v : m["confusion"][i]) o << std::setw(10) << json_text(v);
    o << "\n";
  }
  return o.str();
}

}  // namespace mltrain
