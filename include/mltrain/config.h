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
//
// Every key is declared once, in the tables below. Each row is
//   X(name, kind, default, min, max, choices, identity, doc)
// and that one row gives the C++ field of the section struct, the key's
// parsing and validation, "did you mean", its place in the canonical JSON,
// the JSON Schema of `ml-train config --schema` and the README's config table
// (checked by a test). Kinds: Bool, Int (int64), Seed (uint64), Float
// (double), String (non-empty), OptString ("" = null), Choice (one of the
// '|'-separated choices). min/max bound Int and Float keys. identity: Always,
// or IfSet for keys added after the identity format was fixed: those appear
// in the canonical JSON only when they differ from their default, so that
// adding a key never changes the run id of an existing config.
#ifndef MLTRAIN_CONFIG_H_
#define MLTRAIN_CONFIG_H_

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mltrain {

constexpr double kConfigInf = std::numeric_limits<double>::infinity();
constexpr double kConfigIntMax = 9.0e15;  // largest integer a key accepts

// clang-format off
#define MLTRAIN_CONFIG_ROOT(X) \
  X(seed, Seed, 42, 0, 0, "", Always, "root seed of every random stream") \
  X(deterministic, Bool, false, 0, 0, "", Always, "bit-exact mode: deterministic algorithms, cuDNN/cuBLAS settings")

#define MLTRAIN_CONFIG_DATA(X) \
  X(train_path, String, "data/spamassassin/train.jsonl.gz", 0, 0, "", Always, "training split; vocabulary and labels come from it") \
  X(val_path, String, "data/spamassassin/val.jsonl.gz", 0, 0, "", Always, "validation split (per-epoch metrics)") \
  X(test_path, OptString, "data/spamassassin/test.jsonl.gz", 0, 0, "", Always, "test split, or null for none") \
  X(format, Choice, "auto", 0, 0, "auto|jsonl|csv|tsv", Always, "file format; auto goes by the extension (each may be .gz)") \
  X(text_field, String, "text", 0, 0, "", Always, "field (JSONL) or column (CSV/TSV) holding the text") \
  X(label_field, String, "label", 0, 0, "", Always, "field or column holding the label")

#define MLTRAIN_CONFIG_TOKENIZER(X) \
  X(kind, Choice, "word", 0, 0, "word|char|sentencepiece", Always, "word: letters/digits runs and punctuation; char: characters; sentencepiece: subword pieces") \
  X(lowercase, Bool, true, 0, 0, "", Always, "lower-case the text before tokenizing") \
  X(max_len, Int, 1024, 1, 100000, "", Always, "tokens kept per text (before n-grams)") \
  X(min_freq, Int, 2, 1, kConfigIntMax, "", Always, "fewer occurrences in the training split map to <unk>") \
  X(max_vocab, Int, 30000, 3, 50000000, "", Always, "vocabulary size, <pad> and <unk> included") \
  X(ngrams, Int, 1, 1, 5, "", Always, "n-grams 2..N added (bow only): of words or pieces; of characters within words for char") \
  X(hash_buckets, Int, 0, 0, 16777216, "", IfSet, "n-grams hashed into this many buckets (fastText style); 0 = each its own token") \
  X(sp_type, Choice, "unigram", 0, 0, "unigram|bpe", IfSet, "sentencepiece: the model trained on the training split") \
  X(vocab_size, Int, 8000, 16, 1000000, "", IfSet, "sentencepiece: pieces of the trained model") \
  X(sp_model, OptString, "", 0, 0, "", IfSet, "sentencepiece: an existing .model file instead of training one, or null")

#define MLTRAIN_CONFIG_MODEL(X) \
  X(arch, Choice, "bow", 0, 0, "bow|cnn|transformer", Always, "bow: EmbeddingBag + MLP; cnn; transformer encoder") \
  X(embed_dim, Int, 64, 1, 65536, "", Always, "embedding width") \
  X(hidden_dim, Int, 64, 0, 65536, "", Always, "hidden width (MLP, convolutions, feed-forward); 0 = bow without a hidden layer") \
  X(num_layers, Int, 1, 1, 64, "", Always, "convolution or encoder layers") \
  X(num_heads, Int, 2, 1, 256, "", Always, "attention heads (transformer); must divide embed_dim") \
  X(dropout, Float, 0.1, 0, 0.999, "", Always, "dropout probability inside the model") \
  X(init_from, OptString, "", 0, 0, "", Always, "fine-tune from a run directory or a model.pt file, or null") \
  X(sparse, Bool, false, 0, 0, "", IfSet, "bow: the embedding table gets row-sparse gradients and lazy updates (adam: SparseAdam's; sgd without momentum), so a step costs what its tokens touch, not the vocabulary")

#define MLTRAIN_CONFIG_TRAINING(X) \
  X(epochs, Int, 5, 1, 100000, "", Always, "passes over the training split") \
  X(batch_size, Int, 32, 1, 1000000, "", Always, "examples per optimizer step") \
  X(lr, Float, 0.005, 0, 100, "", Always, "peak learning rate") \
  X(optimizer, Choice, "adam", 0, 0, "sgd|adam|adamw|adagrad", Always, "optimizer (with model.sparse: lazy updates of the embedding rows a step touches)") \
  X(momentum, Float, 0.9, 0, 0.999999, "", Always, "momentum (sgd only)") \
  X(weight_decay, Float, 0.0, 0, 10, "", Always, "L2 penalty (sgd, adam) or decoupled decay (adamw)") \
  X(grad_clip, Float, 0.0, 0, kConfigInf, "", Always, "max global L2 norm of the gradients; 0 = off") \
  X(scheduler, Choice, "constant", 0, 0, "constant|linear|cosine|step", Always, "learning-rate schedule after warm-up") \
  X(warmup_steps, Int, 0, 0, kConfigIntMax, "", Always, "linear warm-up steps") \
  X(step_size, Int, 1, 1, 100000, "", Always, "step scheduler: epochs between decays") \
  X(gamma, Float, 0.5, 0, 1, "", Always, "step scheduler: decay factor") \
  X(token_dropout, Float, 0.0, 0, 0.99, "", Always, "per-token drop probability while training") \
  X(grad_shards, Int, 1, 1, 4096, "", IfSet, "the batch is split into this many gradient shards, summed in shard order; any number of ranks up to it gives the same bits")

#define MLTRAIN_CONFIG_RUNTIME(X) \
  X(output_dir, String, "runs", 0, 0, "", Always, "runs go to <output_dir>/<run_id>/") \
  X(cache_dir, OptString, "", 0, 0, "", Always, "trained tokenizers and encoded data are kept here; null = <output_dir>/.cache") \
  X(token_cache, Bool, true, 0, 0, "", Always, "keep encoded splits in <cache_dir>/tokens/ and map them; never changes results") \
  X(num_workers, Int, 2, 0, 256, "", Always, "loader threads; never changes results") \
  X(threads, Int, 0, 0, 1024, "", Always, "intra-op threads; 0 = LibTorch's default (with several ranks: the cores shared out)") \
  X(device, String, "cpu", 0, 0, "", Always, "cpu, cuda, cuda:N or auto (a GPU when LibTorch sees one); with ranks, cuda means cuda:<local rank>. Results are bit-exact per device type, not across them") \
  X(cpu_capability, Choice, "native", 0, 0, "native|default|avx2|avx512", Always, "LibTorch's CPU kernels as a CPU of that kind picks them (ATEN_CPU_CAPABILITY); deterministic=true pins avx2 whatever this says") \
  X(nproc, Int, 1, 1, 1024, "", Always, "ranks `train` starts on this machine (data-parallel over training.grad_shards); never changes results") \
  X(dist_timeout, Float, 300, 0.1, 86400, "", Always, "seconds a rank waits for the store or a peer before it fails") \
  X(checkpoint_every, Int, 0, 0, kConfigIntMax, "", Always, "steps between checkpoints; 0 = end of each epoch only") \
  X(log_every, Int, 50, 1, kConfigIntMax, "", Always, "steps between progress lines (non-TTY)") \
  X(trace_every, Int, 50, 1, kConfigIntMax, "", Always, "steps between state hashes in trace.jsonl") \
  X(progress, Bool, true, 0, 0, "", Always, "progress on stderr")

// The sections, in schema order: X(section name, struct, table).
#define MLTRAIN_CONFIG_SECTIONS(X) \
  X(data, DataConfig, MLTRAIN_CONFIG_DATA) \
  X(tokenizer, TokenizerConfig, MLTRAIN_CONFIG_TOKENIZER) \
  X(model, ModelConfig, MLTRAIN_CONFIG_MODEL) \
  X(training, TrainingConfig, MLTRAIN_CONFIG_TRAINING) \
  X(runtime, RuntimeConfig, MLTRAIN_CONFIG_RUNTIME)
// clang-format on

enum class ConfigKind { kBool, kInt, kSeed, kFloat, kString, kOptString, kChoice };

template <ConfigKind K>
struct ConfigValue {
  using type = std::string;  // String, OptString, Choice
};
template <>
struct ConfigValue<ConfigKind::kBool> {
  using type = bool;
};
template <>
struct ConfigValue<ConfigKind::kInt> {
  using type = std::int64_t;
};
template <>
struct ConfigValue<ConfigKind::kSeed> {
  using type = std::uint64_t;
};
template <>
struct ConfigValue<ConfigKind::kFloat> {
  using type = double;
};

#define MLTRAIN_CONFIG_FIELD(name, kind, def, lo, hi, choices, identity, doc) \
  ConfigValue<ConfigKind::k##kind>::type name = def;
#define MLTRAIN_CONFIG_STRUCT(section, type, table) \
  struct type {                                     \
    table(MLTRAIN_CONFIG_FIELD)                     \
  };
MLTRAIN_CONFIG_SECTIONS(MLTRAIN_CONFIG_STRUCT)
#undef MLTRAIN_CONFIG_STRUCT

// runtime.* are execution settings: they must not change results (G3), so
// they are not part of the run identity.
struct Config {
  MLTRAIN_CONFIG_ROOT(MLTRAIN_CONFIG_FIELD)
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
  // YAML rendering of to_json() for humans, in table order.
  std::string to_yaml() const;
};
#undef MLTRAIN_CONFIG_FIELD

struct ConfigSources {
  std::string file;                    // "" = none
  std::optional<std::string> seed;     // --seed text
  std::optional<bool> deterministic;   // --deterministic[=bool]
  std::vector<std::string> overrides;  // KEY=VALUE
};

// Resolves and validates. Throws Error (kUsage) on any problem.
Config resolve_config(const ConfigSources& sources);

// Builds a Config from a JSON object such as a saved config.json (identity
// only) merged over defaults; `where` names the source in errors.
Config config_from_json(const nlohmann::json& j, const std::string& where);

// Applies one KEY=VALUE override to cfg (same rules as on the command line).
void apply_override(Config* cfg, const std::string& key_equals_value);

// One declared key, as the tables above give it.
struct ConfigKey {
  std::string name;  // dotted: "training.lr"
  ConfigKind kind;
  nlohmann::json default_value;
  double min = 0, max = 0;           // Int and Float
  std::vector<std::string> choices;  // Choice
  bool runtime = false;              // not part of the identity
  bool if_set = false;               // in the identity only when not at its default
  std::string doc;
};

// Every key, in table order.
const std::vector<ConfigKey>& config_table();
// Every dotted key name, in table order.
const std::vector<std::string>& config_keys();

// The closest known key to `key`, or "" when nothing is close.
std::string suggest_key(const std::string& key);

// The config as a JSON Schema (draft 2020-12) document, for editors that
// validate YAML and JSON config files. Keys in table order.
nlohmann::ordered_json config_json_schema();

// ------------------------------------------- a config of your own ----
//
// The machinery above, for a training loop of your own: declare each key
// once, with its type, default, range and doc, and get YAML/JSON files,
// KEY=VALUE overrides (YAML-typed, as for ml-train), strict validation with
// "did you mean", --help text, and the canonical identity and run id for
// Run::open. Every spec starts with the root keys `seed` (default 42) and
// `deterministic` (default false); keys under `runtime.` are execution
// settings: resolved, but not part of the identity (`ml-train verify --vary
// runtime.KEY=...` varies them). run_keys() adds the runtime keys a Run uses
// (run.h: run_options(settings) reads them).
//
//   mltrain::ConfigSpec spec;
//   spec.integer("model.hidden", 32, 1, 4096, "hidden units")
//       .number("training.lr", 0.05, 0, 10, "learning rate")
//       .run_keys();
//   mltrain::CommandLine cl = spec.parse({argv + 1, argv + argc});
//   if (cl.help) { std::cout << spec.help("my_loop RUN_DIR [KEY=VALUE ...]"); return 0; }
//   mltrain::Run run = mltrain::Run::open(cl.settings.identity(), run_options(cl.settings));
//
// Errors (unknown key, wrong type, out of range, bad file) are Error (exit 2)
// naming file:line or the key, as for ml-train's own config.
class Settings;
struct CommandLine;

class ConfigSpec {
 public:
  ConfigSpec();  // seed and deterministic
  // Declarations; `name` is "key" or "section.key" (lower-case letters,
  // digits, '_'). Declaring a name twice, or a default that fails its own
  // checks, is an Error.
  ConfigSpec& boolean(const std::string& name, bool def, const std::string& doc);
  ConfigSpec& integer(const std::string& name, std::int64_t def, std::int64_t min, std::int64_t max,
                      const std::string& doc);
  ConfigSpec& number(const std::string& name, double def, double min, double max,
                     const std::string& doc);
  ConfigSpec& text(const std::string& name, const std::string& def,
                   const std::string& doc);  // non-empty
  ConfigSpec& optional_text(const std::string& name, const std::string& def,
                            const std::string& doc);  // "" = null
  ConfigSpec& choice(const std::string& name, const std::string& def,
                     const std::vector<std::string>& choices, const std::string& doc);
  ConfigSpec& key(ConfigKey key);  // any kind (if_set: in the identity only when set)
  // runtime.output_dir, threads, nproc, dist_timeout, checkpoint_every and
  // trace_every, with ml-train's defaults.
  ConfigSpec& run_keys();

  const std::vector<ConfigKey>& keys() const { return keys_; }
  // defaults < sources.file < --seed / --deterministic < overrides.
  Settings resolve(const ConfigSources& sources) const;
  // A saved identity (config.json) or any JSON object over the defaults.
  Settings from_json(const nlohmann::json& j, const std::string& where) const;
  // A command line (without the program name): -c/--config FILE, --seed N,
  // --deterministic[=BOOL], -h/--help, KEY=VALUE overrides (a '=' before any
  // '/'); every other argument is positional (e.g. a run directory). An
  // unknown option is an Error. With --help nothing is resolved.
  CommandLine parse(const std::vector<std::string>& args) const;
  // Usage line, options and every key with its type, range, default and doc.
  std::string help(const std::string& usage) const;
  // The closest declared key to `key`, or "".
  std::string suggest(const std::string& key) const;

 private:
  std::vector<ConfigKey> keys_;
};

// A resolved, validated config of a ConfigSpec.
class Settings {
 public:
  const nlohmann::json& json() const { return tree_; }  // every key, runtime included
  // The value of a declared key (Error naming the key, with a suggestion,
  // when it was not declared or is not of the asked type).
  const nlohmann::json& get(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  std::string text(const std::string& key) const;  // OptString null = ""
  std::uint64_t seed() const;
  bool deterministic() const;
  // Without runtime.* (and if_set keys at their default): Run::open's identity.
  nlohmann::json identity() const;
  std::string canonical() const;  // canonical_json(identity())
  std::string run_id() const;     // sha1(canonical())[:8]
  std::string to_yaml() const;    // every key, in declaration order

 private:
  friend class ConfigSpec;
  std::vector<ConfigKey> keys_;
  nlohmann::json tree_ = nlohmann::json::object();
};

struct CommandLine {
  Settings settings;
  std::vector<std::string> positional;
  bool help = false;
};

// A "KEY=V1,V2,..." list (verify --vary, sweep --grid). `flag` names the
// option in errors. Every value is checked as an override of `base`, so a bad
// key or value is reported before anything runs. Empty values ("1,,2", a
// trailing comma) and a missing key are errors.
struct KeyValues {
  std::string key;
  std::vector<std::string> values;
};
KeyValues parse_key_values(const std::string& spec, const std::string& flag, const Config& base);

}  // namespace mltrain

#endif  // MLTRAIN_CONFIG_H_
