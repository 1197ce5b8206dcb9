// model.init_from: a completed run's weights, vocabulary, tokenizer and
// labels for a run that continues from it (include/mltrain/infer.h).
#include <torch/torch.h>

#include "mltrain/error.h"
#include "mltrain/files.h"
#include "mltrain/infer.h"
#include "mltrain/layout.h"
#include "mltrain/records.h"
#include "mltrain/run.h"
#include "mltrain/state_hash.h"

namespace mltrain {

InitFrom resolve_init_from(const std::string& init_from) {
  InitFrom p;
  p.path = init_from;
  if (!is_directory(init_from)) {
    if (!path_exists(init_from)) fail_usage("key 'model.init_from': " + init_from + " not found");
    p.model_file = init_from;
    verify_weights_file(p.model_file);
    return p;
  }
  p.model_file = join_path(init_from, layout::kModel);
  if (!path_exists(p.model_file)) {
    fail_usage("key 'model.init_from': " + init_from + " has no " + layout::kModel +
               " (is it a completed run?)");
  }
  const std::string vocab_path = join_path(init_from, layout::kVocab);
  if (path_exists(vocab_path)) {
    p.vocab = Vocab::from_text(read_file(vocab_path), vocab_path);
    p.has_vocab = true;
  }
  const std::string tokenizer_path = join_path(init_from, layout::kTokenizer);
  if (path_exists(tokenizer_path)) p.tokenizer_model = read_file(tokenizer_path);
  if (path_exists(join_path(init_from, layout::kConfig))) {
    const RunRecord r = load_run(init_from, RunParts::kBrief);
    p.run_id = r.run_id();
    p.state_sha256 = r.state_sha256();
  }
  const std::string data_path = join_path(init_from, layout::kData);
  if (path_exists(data_path)) {
    const nlohmann::json labels = json_at(read_json_file(data_path), "labels");
    if (labels.is_array()) {
      for (const auto& l : labels) {
        if (!l.is_string()) fail_usage(data_path + ": key 'labels': expected a list of strings");
        p.labels.push_back(l.get<std::string>());
      }
    }
  }
  verify_weights_file(p.model_file);
  return p;
}

void load_init_weights(const InitFrom& from, torch::nn::Module& model) {
  load_weights(from.model_file, model);
  if (!from.state_sha256.empty() && state_sha256(model) != from.state_sha256) {
    fail_usage(from.model_file + ": does not hold the weights its run recorded (state_sha256 " +
               from.state_sha256.substr(0, 16) + " in summary.json, " + state_hash(model) +
               " in the file); the file is damaged");
  }
}

}  // namespace mltrain
