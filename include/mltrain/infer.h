// Using a trained model: predictions for new texts, evaluation on a
// labelled file. A run of the built-in trainer is loaded with its own
// tokenizer (settings, vocabulary, SentencePiece model), labels and final
// weights, after checking that it completed and that model.pt is intact.
#ifndef MLTRAIN_INFER_H_
#define MLTRAIN_INFER_H_

#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mltrain/data.h"

namespace torch {
namespace nn {
class Module;
}  // namespace nn
}  // namespace torch

namespace mltrain {

struct Config;

// model.init_from (fine-tuning): where a run's starting weights come from.
// A completed run directory of `ml-train train` gives its model.pt and what
// the new run must reuse so that token ids and classes line up: its
// vocabulary, its SentencePiece model and its labels. A model file alone
// gives just the weights.
struct InitFrom {
  std::string path;          // as given
  std::string model_file;    // the weights file
  std::string run_id;        // the run's (from its config.json); "" for a file
  std::string state_sha256;  // what the run's summary.json records; "" if none
  bool has_vocab = false;
  Vocab vocab;
  std::string tokenizer_model;      // its SentencePiece model, if it has one
  std::vector<std::string> labels;  // its labels, if recorded
};
// Reads and checks what `init_from` holds, without writing anything: Error
// (exit 2) naming the key and the path when it is missing, not a run with a
// model, or its model file is damaged.
InitFrom resolve_init_from(const std::string& init_from);
// Loads the weights into `model` and checks them against the state_sha256
// the run recorded (Error, exit 2, naming the file when they differ).
void load_init_weights(const InitFrom& from, torch::nn::Module& model);

class Predictor {
 public:
  // Throws Error (exit 2) when `run_dir` is not a completed run of
  // `ml-train train`, or its model.pt, vocabulary or tokenizer is damaged.
  explicit Predictor(const std::string& run_dir);
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  const std::string& run_id() const;
  const std::vector<std::string>& labels() const;
  const Config& config() const;  // the run's config (data fields, tokenizer, model)

  // Class probabilities (softmax of the logits), one row of labels().size()
  // per text. Texts are tokenized as in training and run in batches of 128
  // in order, like the run's own evaluation; `threads` batches run at a time,
  // each with one intra-op thread, so the result is bit-identical for any
  // thread count.
  std::vector<std::vector<float>> probabilities(const std::vector<std::string>& texts,
                                                int threads) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct PredictOptions {
  std::string format = "auto";  // auto|jsonl|csv|tsv|lines ("-" reads lines from stdin)
  int top_k = 0;                // > 0: also the k most likely labels, best first
  bool skip_bad = false;        // leave out bad rows (reported on `log`) instead of failing
  int threads = 0;              // batches at a time; 0 = the machine's cores
};

// Predicts every row of `path` (the run's text field; labels not needed) and
// writes one JSON line per row to `out`:
//   {"id": <the row's id, else its line>, "line": N, "label": best,
//    "probs": {label: p, ...}[, "top": [[label, p], ...]]}
// Returns the number of rows predicted. Bad rows are an Error naming the
// line, or with skip_bad one warning line each on `log`.
std::int64_t predict_file(const Predictor& predictor, const std::string& path,
                          const PredictOptions& options, std::ostream& out, std::ostream* log);

struct EvaluateOptions {
  std::string format = "auto";
  std::string name;  // the record's name ("" = the file's name)
  int threads = 0;
};

// Evaluates the run on a labelled file (its label field; every label must
// be one the run knows) and records the result in the run directory as
// evaluations/<name>.json, with the file's fingerprint. Returns the record:
// {name, run_id, file: {path, sha256, rows}, metrics: classification_metrics}.
nlohmann::json evaluate_file(const std::string& run_dir, const std::string& path,
                             const EvaluateOptions& options);
// Text rendering of an evaluation record.
std::string format_evaluation(const nlohmann::json& record);

// Accuracy, macro-F1, per-class precision / recall / F1 / support and the
// confusion matrix (rows: true label, columns: predicted) of `predicted`
// against `truth`, both indices into `labels`.
nlohmann::json classification_metrics(const std::vector<std::string>& labels,
                                      const std::vector<int>& truth,
                                      const std::vector<int>& predicted);

}  // namespace mltrain

#endif  // MLTRAIN_INFER_H_
