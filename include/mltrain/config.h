// Experiment configuration: defaults, files, overrides, validation, identity.
//
// Resolution order (later wins): built-in defaults < config file (YAML or
// JSON, `-c`) < --seed / --deterministic < KEY=VALUE overrides (dotted keys,
// YAML-typed values: training.lr=5e-4). Validation is strict: unknown keys
// are errors that suggest the closest known key, wrong types, out-of-range
// values and unknown choices are errors naming the key and what is allowed.
// All such errors are thrown as mltrain::Error (exit code 2) with one line
// naming file:line or the key.
//
// Identity: the canonical JSON of the resolved config *without* `runtime`
// (execution settings that must not change results) is the run's identity;
// run_id = sha1(canonical)[:8].
#ifndef MLTRAIN_CONFIG_H_
#define MLTRAIN_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mltrain {

struct DataConfig {
  std::string train_path = "data/spamassassin/train.jsonl.gz";
  std::string val_path = "data/spamassassin/val.jsonl.gz";
  std::string test_path = "data/spamassassin/test.jsonl.gz";  // "" = none
  std::string format = "auto";                                 // auto|jsonl|csv|tsv
  std::string text_field = "text";
  std::string label_field = "label";
};

struct TokenizerConfig {
  std::string kind = "word";  // word|char
  bool lowercase = true;
  std::int64_t max_len = 1024;  // tokens kept per text (before n-grams)
  std::int64_t min_freq = 2;
  std::int64_t max_vocab = 30000;  // including <pad> and <unk>
  std::int64_t ngrams = 1;         // word n-grams added for bow (1 = unigrams)
};

struct ModelConfig {
  std::string arch = "bow";  // bow|cnn|transformer
  std::int64_t embed_dim = 64;
  std::int64_t hidden_dim = 64;
  std::int64_t num_layers = 1;
  std::int64_t num_heads = 2;
  double dropout = 0.1;
  std::string init_from;  // "" = none; a run directory or a model.pt file
};

struct TrainingConfig {
  std::int64_t epochs = 5;
  std::int64_t batch_size = 32;
  double lr = 0.005;
  std::string optimizer = "adam";  // sgd|adam|adamw
  double momentum = 0.9;           // sgd only
  double weight_decay = 0.0;
  double grad_clip = 0.0;             // max global L2 norm; 0 = off
  std::string scheduler = "constant";  // constant|linear|cosine|step
  std::int64_t warmup_steps = 0;
  std::int64_t step_size = 1;  // step scheduler: epochs between decays
  double gamma = 0.5;          // step scheduler: decay factor
  double token_dropout = 0.0;  // per-token drop probability while training
};

// Execution settings. They must not change results (G3), so they are not
// part of the run identity.
struct RuntimeConfig {
  std::string output_dir = "runs";
  std::int64_t num_workers = 2;
  std::int64_t threads = 0;           // intra-op threads; 0 = LibTorch default
  std::int64_t checkpoint_every = 0;  // steps; 0 = at the end of each epoch only
  std::int64_t log_every = 50;
  std::int64_t trace_every = 50;  // param hash in trace.jsonl every N steps
  bool progress = true;
};

struct Config {
  std::uint64_t seed = 42;
  bool deterministic = false;
  DataConfig data;
  TokenizerConfig tokenizer;
  ModelConfig model;
  TrainingConfig training;
  RuntimeConfig runtime;

  // The resolved config as JSON, runtime included.
  nlohmann::json to_json() const;
  // Without runtime: the run's identity.
  nlohmann::json identity_json() const;
  // canonical_json(identity_json()).
  std::string canonical() const;
  // sha1(canonical())[:8].
  std::string run_id() const;
  // YAML rendering of to_json() for humans.
  std::string to_yaml() const;
};

struct ConfigSources {
  std::string file;                          // "" = none
  std::optional<std::string> seed;           // --seed text
  std::optional<bool> deterministic;         // --deterministic[=bool]
  std::vector<std::string> overrides;        // KEY=VALUE
};

// Resolves and validates. Throws Error (kUsage) on any problem.
Config resolve_config(const ConfigSources& sources);

// Builds a Config from a JSON object such as a saved config.json (identity
// only) merged over defaults; `where` names the source in errors.
Config config_from_json(const nlohmann::json& j, const std::string& where);

// Applies one KEY=VALUE override to cfg (same rules as on the command line).
void apply_override(Config* cfg, const std::string& key_equals_value);

// Every known dotted leaf key, in schema order.
const std::vector<std::string>& config_keys();

// The closest known key to `key`, or "" when nothing is close.
std::string suggest_key(const std::string& key);

}  // namespace mltrain

#endif  // MLTRAIN_CONFIG_H_
