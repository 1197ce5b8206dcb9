// Predictions of a trained run (include/mltrain/infer.h).
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "mltrain/data.h"
#include "mltrain/error.h"
#include "mltrain/files.h"
#include "mltrain/infer.h"
#include "mltrain/layout.h"
#include "mltrain/loader.h"
#include "mltrain/models.h"
#include "mltrain/records.h"
#include "mltrain/run.h"

namespace mltrain {

struct Predictor::Impl {
  std::string run_id;
  Config cfg;
  Vocab vocab;
  std::vector<std::string> labels;
  std::unique_ptr<Tokenizer> tokenizer;
  std::shared_ptr<ClassifierImpl> model;
};

Predictor::Predictor(const std::string& run_dir) : impl_(std::make_unique<Impl>()) {
  Impl& p = *impl_;
  const RunRecord r = load_run(run_dir);
  const nlohmann::json trainer = json_at(r.run, "trainer");
  if (trainer.is_string() && trainer.get<std::string>() != "ml-train train") {
    fail_usage(run_dir + ": trained by '" + trainer.get<std::string>() +
               "', not by ml-train train; load its model with that program");
  }
  if (r.status() != "completed" || r.state_sha256().empty()) {
    fail_usage(run_dir + ": the run is not completed (status " +
               (r.status().empty() ? std::string("unknown") : r.status()) +
               "); train it to the end first");
  }
  p.run_id = r.run_id();
  p.cfg = config_from_json(r.config, join_path(run_dir, layout::kConfig));
  const std::string vocab_path = join_path(run_dir, layout::kVocab);
  if (!path_exists(vocab_path)) fail_usage(vocab_path + ": missing; the run directory is damaged");
  p.vocab = Vocab::from_text(read_file(vocab_path), vocab_path);
  for (const auto& l : json_at(r.data, "labels")) p.labels.push_back(l.get<std::string>());
  if (p.labels.size() < 2) {
    fail_usage(join_path(run_dir, layout::kData) +
               ": no labels recorded; the run directory is damaged");
  }
  std::string sp_model;
  if (p.cfg.tokenizer.kind == "sentencepiece") {
    const std::string path = join_path(run_dir, layout::kTokenizer);
    if (!path_exists(path)) fail_usage(path + ": missing; the run directory is damaged");
    sp_model = read_file(path);
    const nlohmann::json recorded = json_at(r.data, "tokenizer.pieces_sha256");
    if (recorded.is_string() &&
        recorded.get<std::string>() != sentencepiece_fingerprint(sp_model)) {
      fail_usage(path + ": not the tokenizer data.json records; the run directory is damaged");
    }
  }
  p.tokenizer = std::make_unique<Tokenizer>(p.cfg.tokenizer, sp_model);
  // The weights: intact, and the ones the summary describes.
  const std::string model_path = join_path(run_dir, layout::kModel);
  if (verify_weights_file(model_path) != r.state_sha256()) {
    fail_usage(model_path + ": not the weights summary.json records; the run directory is damaged");
  }
  p.model = make_classifier(p.cfg, p.vocab.size(), static_cast<std::int64_t>(p.labels.size()));
  load_weights(model_path, *p.model);
  p.model->eval();
}

Predictor::~Predictor() = default;

const std::string& Predictor::run_id() const { return impl_->run_id; }
const std::vector<std::string>& Predictor::labels() const { return impl_->labels; }
const Config& Predictor::config() const { return impl_->cfg; }

std::vector<std::vector<float>> Predictor::probabilities(const std::vector<std::string>& texts,
                                                         int threads) const {
  const Impl& p = *impl_;
  EncodedSplit split;
  split.name = "predict";
  std::vector<std::string> tokens;
  std::vector<std::int32_t> ids;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    p.tokenizer->tokenize(texts[i], &tokens);
    ids.clear();
    for (const auto& t : tokens) ids.push_back(p.vocab.id(t));
    split.add(ids, 0);
  }
  // The batches of the run's own evaluation: 128 in order, file order.
  LoaderOptions lo;
  lo.batch_size = 128;
  lo.shuffle = false;
  lo.seed = p.cfg.seed;
  lo.layout = layout_for(p.cfg.model.arch);
  DeterministicLoader loader(split, lo);
  loader.start_epoch(0);
  const std::int64_t batches = loader.num_batches();
  std::vector<std::vector<float>> out(texts.size());
  // One intra-op thread per batch: the bits of a batch do not depend on how
  // many batches run at once.
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  std::atomic<std::int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    torch::NoGradGuard no_grad;
    try {
      for (std::int64_t b = next++; b < batches; b = next++) {
        const Batch batch = loader.make_batch(0, b);
        const torch::Tensor probs =
            torch::softmax(p.model->forward(batch), 1).contiguous();  // (B, C)
        const auto a = probs.accessor<float, 2>();
        for (std::int64_t i = 0; i < batch.size(); ++i) {
          auto& row = out[static_cast<std::size_t>(b * 128 + i)];
          for (std::int64_t c = 0; c < probs.size(1); ++c) row.push_back(a[i][c]);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  at::set_num_threads(before);
  if (error) std::rethrow_exception(error);
  return out;
}

nlohmann::json classification_metrics(const std::vector<std::string>& labels,
                                      const std::vector<int>& truth,
                                      const std::vector<int>& predicted) {
  const std::size_t k = labels.size(), n = truth.size();
  std::vector<std::vector<std::int64_t>> confusion(k, std::vector<std::int64_t>(k, 0));
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ++confusion[static_cast<std::size_t>(truth[i])][static_cast<std::size_t>(predicted[i])];
    correct += truth[i] == predicted[i];
  }
  nlohmann::json classes = nlohmann::json::array();
  double f1_sum = 0;
  for (std::size_t c = 0; c < k; ++c) {
    std::int64_t tp = confusion[c][c], fp = 0, fn = 0, support = 0;
    for (std::size_t o = 0; o < k; ++o) {
      support += confusion[c][o];
      if (o == c) continue;
      fp += confusion[o][c];
      fn += confusion[c][o];
    }
    const double precision = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
    const double recall = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
    // F1 as the trainer computes it (2tp / (2tp + fp + fn)), so macro-F1 matches val_f1.
    const std::int64_t d = 2 * tp + fp + fn;
    const double f1 = d ? 2.0 * static_cast<double>(tp) / static_cast<double>(d) : 0.0;
    f1_sum += f1;
    classes.push_back({{"label", labels[c]},
                       {"precision", precision},
                       {"recall", recall},
                       {"f1", f1},
                       {"support", support}});
  }
  return {{"n", static_cast<std::int64_t>(n)},
          {"accuracy", n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0},
          {"macro_f1", k ? f1_sum / static_cast<double>(k) : 0.0},
          {"classes", classes},
          {"labels", labels},
          {"confusion", confusion}};
}

}  // namespace mltrain
