#include "mltrain/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/canonical_json.h"
#include "mltrain/error.h"
#include "mltrain/files.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

constexpr double kIntMax = kConfigIntMax;

// A table row bound to its field: where the value lives in a Config.
struct KeySpec {
  ConfigKey key;
  void* (*field)(Config&);
};

std::vector<std::string> split_choices(const char* choices) {
  std::vector<std::string> out;
  std::stringstream ss(choices);
  std::string c;
  while (std::getline(ss, c, '|')) {
    if (!c.empty()) out.push_back(c);
  }
  return out;
}

enum Identity { Always, IfSet };

KeySpec make_spec(const char* name, ConfigKind kind, double lo, double hi, const char* choices,
                  Identity identity, const char* doc, void* (*field)(Config&)) {
  KeySpec s;
  s.key.name = name;
  s.key.kind = kind;
  s.key.min = lo;
  s.key.max = hi;
  s.key.choices = split_choices(choices);
  s.key.runtime = s.key.name.rfind("runtime.", 0) == 0;
  s.key.if_set = identity == IfSet;
  s.key.doc = doc;
  s.field = field;
  return s;
}

json get_value(const KeySpec& s, const Config& c) {
  void* p = s.field(const_cast<Config&>(c));
  switch (s.key.kind) {
    case ConfigKind::kBool:
      return *static_cast<bool*>(p);
    case ConfigKind::kInt:
      return *static_cast<std::int64_t*>(p);
    case ConfigKind::kSeed:
      return *static_cast<std::uint64_t*>(p);
    case ConfigKind::kFloat:
      return *static_cast<double*>(p);
    case ConfigKind::kOptString: {
      const auto& v = *static_cast<std::string*>(p);
      return v.empty() ? json(nullptr) : json(v);
    }
    case ConfigKind::kString:
    case ConfigKind::kChoice:
      return *static_cast<std::string*>(p);
  }
  return nullptr;
}

// v has already been coerced to the key's kind.
void set_value(const KeySpec& s, Config* c, const json& v) {
  void* p = s.field(*c);
  switch (s.key.kind) {
    case ConfigKind::kBool:
      *static_cast<bool*>(p) = v.get<bool>();
      return;
    case ConfigKind::kInt:
      *static_cast<std::int64_t*>(p) = v.get<std::int64_t>();
      return;
    case ConfigKind::kSeed:
      *static_cast<std::uint64_t*>(p) = v.get<std::uint64_t>();
      return;
    case ConfigKind::kFloat:
      *static_cast<double*>(p) = v.get<double>();
      return;
    case ConfigKind::kOptString:
      *static_cast<std::string*>(p) = v.is_null() ? "" : v.get<std::string>();
      return;
    case ConfigKind::kString:
    case ConfigKind::kChoice:
      *static_cast<std::string*>(p) = v.get<std::string>();
      return;
  }
}

// The table, bound to the fields, in declaration order.
#define ROW(path, member, name, kind, def, lo, hi, choices, identity, doc) \
  make_spec(path, ConfigKind::k##kind, lo, hi, choices, identity, doc,     \
            [](Config& c) -> void* { return &c.member; }),
#define ROOT_ROW(name, ...) ROW(#name, name, name, __VA_ARGS__)
#define DATA_ROW(name, ...) ROW("data." #name, data.name, name, __VA_ARGS__)
#define TOKENIZER_ROW(name, ...) ROW("tokenizer." #name, tokenizer.name, name, __VA_ARGS__)
#define MODEL_ROW(name, ...) ROW("model." #name, model.name, name, __VA_ARGS__)
#define TRAINING_ROW(name, ...) ROW("training." #name, training.name, name, __VA_ARGS__)
#define RUNTIME_ROW(name, ...) ROW("runtime." #name, runtime.name, name, __VA_ARGS__)

const std::vector<KeySpec>& specs() {
  static const std::vector<KeySpec> kSpecs = [] {
    std::vector<KeySpec> v = {
        MLTRAIN_CONFIG_ROOT(ROOT_ROW) MLTRAIN_CONFIG_DATA(DATA_ROW)
            MLTRAIN_CONFIG_TOKENIZER(TOKENIZER_ROW) MLTRAIN_CONFIG_MODEL(MODEL_ROW)
                MLTRAIN_CONFIG_TRAINING(TRAINING_ROW) MLTRAIN_CONFIG_RUNTIME(RUNTIME_ROW)};
    const Config defaults;
    for (auto& s : v) s.key.default_value = get_value(s, defaults);
    return v;
  }();
  return kSpecs;
}

#undef ROW
#undef ROOT_ROW
#undef DATA_ROW
#undef TOKENIZER_ROW
#undef MODEL_ROW
#undef TRAINING_ROW
#undef RUNTIME_ROW

// The keys a config may hold: the built-in table, or a ConfigSpec's.
struct Table {
  const std::vector<ConfigKey>* keys;
  const ConfigKey* find(const std::string& name) const {
    for (const auto& k : *keys) {
      if (name == k.name) return &k;
    }
    return nullptr;
  }
  bool is_section(const std::string& name) const {
    for (const auto& k : *keys) {
      if (k.name.size() > name.size() && k.name.compare(0, name.size(), name) == 0 &&
          k.name[name.size()] == '.') {
        return true;
      }
    }
    return false;
  }
  std::string suggest(const std::string& key) const;
};

Table builtin_table() { return Table{&config_table()}; }

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string leaf_name(const std::string& key) {
  auto p = key.rfind('.');
  return p == std::string::npos ? key : key.substr(p + 1);
}

std::string Table::suggest(const std::string& key) const {
  std::string best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  for (const auto& k : *keys) {
    std::size_t d = edit_distance(key, k.name);
    // The same leaf name under another section is a good guess too.
    if (leaf_name(k.name) == leaf_name(key)) d = std::min<std::size_t>(d, 1);
    if (d < best_d) {
      best_d = d;
      best = k.name;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, key.size() / 3);
  return best_d <= limit ? best : "";
}

std::string unknown_key_message(const Table& table, const std::string& key) {
  std::string msg = "unknown key '" + key + "'";
  std::string s = table.suggest(key);
  if (!s.empty()) msg += " (did you mean '" + s + "'?)";
  return msg;
}

std::string type_name(const ConfigKey& s) {
  switch (s.kind) {
    case ConfigKind::kBool:
      return "true or false";
    case ConfigKind::kInt:
      return "an integer";
    case ConfigKind::kSeed:
      return "an integer in [0, 18446744073709551615]";
    case ConfigKind::kFloat:
      return "a number";
    case ConfigKind::kString:
      return "a string";
    case ConfigKind::kOptString:
      return "a string or null";
    case ConfigKind::kChoice: {
      std::string out = "one of ";
      for (std::size_t i = 0; i < s.choices.size(); ++i) {
        out += (i ? "|" : "") + s.choices[i];
      }
      return out;
    }
  }
  return "?";
}

std::string fmt_number(double v) {
  if (std::isinf(v)) return "inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  return python_float_repr(v);
}

std::string describe(const json& v) {
  if (v.is_string()) return "\"" + v.get<std::string>() + "\"";
  return json_line(v);
}

[[noreturn]] void bad_value(const std::string& where, const ConfigKey& s, const std::string& got) {
  fail_usage(where + ": key '" + s.name + "': expected " + type_name(s) + ", got " + got);
}

// Range and choice checks on an already typed value.
json check_range(const std::string& where, const ConfigKey& s, const json& v) {
  if (s.kind == ConfigKind::kInt || s.kind == ConfigKind::kFloat) {
    double d = v.get<double>();
    if (std::isnan(d) || d < s.min || d > s.max) {
      fail_usage(where + ": key '" + s.name + "': " + describe(v) + " is out of range [" +
                 fmt_number(s.min) + ", " + fmt_number(s.max) + "]");
    }
  }
  if (s.kind == ConfigKind::kChoice) {
    const std::string& str = v.get_ref<const std::string&>();
    if (std::find(s.choices.begin(), s.choices.end(), str) == s.choices.end()) {
      fail_usage(where + ": key '" + s.name + "': unknown choice \"" + str + "\" (expected " +
                 type_name(s) + ")");
    }
  }
  if (s.kind == ConfigKind::kString && v.get_ref<const std::string&>().empty()) {
    fail_usage(where + ": key '" + s.name + "': must not be empty");
  }
  if (v.is_string() && !is_valid_utf8(v.get_ref<const std::string&>())) {
    // The config is recorded as JSON, which holds text, not bytes.
    fail_usage(where + ": key '" + s.name +
               "': not valid UTF-8; a path must have a UTF-8 name (rename the file or link it "
               "under one)");
  }
  return v;
}

bool parse_int(const std::string& t, long long* out) {
  if (t.empty()) return false;
  std::size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0;
  if (i == t.size()) return false;
  for (std::size_t k = i; k < t.size(); ++k) {
    if (t[k] < '0' || t[k] > '9') return false;
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno == ERANGE) return false;
  *out = v;
  return true;
}

bool parse_float(const std::string& t, double* out) {
  if (t.empty()) return false;
  for (char c : t) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '-' || c == '+')) {
      return false;
    }
  }
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// Parses a seed given as text (command line or YAML scalar).
bool parse_seed(const std::string& t, std::uint64_t* out) {
  if (t.empty() || t.size() > 20) return false;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
  }
  errno = 0;
  unsigned long long v = std::strtoull(t.c_str(), nullptr, 10);
  if (errno == ERANGE) return false;
  *out = v;
  return true;
}

// Coerces a YAML scalar (as text, `plain` = not quoted) to the key's type.
json coerce_scalar(const std::string& where, const ConfigKey& s, const std::string& text,
                   bool plain) {
  const bool is_null =
      plain && (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL");
  switch (s.kind) {
    case ConfigKind::kBool:
      if (plain && (text == "true" || text == "True" || text == "TRUE")) return true;
      if (plain && (text == "false" || text == "False" || text == "FALSE")) return false;
      bad_value(where, s, "\"" + text + "\"");
    case ConfigKind::kInt: {
      long long v;
      double d;
      if (plain && parse_int(text, &v)) return check_range(where, s, json(v));
      if (plain && parse_float(text, &d) && d == std::floor(d) && std::fabs(d) < kIntMax) {
        return check_range(where, s, json(static_cast<long long>(d)));
      }
      bad_value(where, s, "\"" + text + "\"");
    }
    case ConfigKind::kSeed: {
      std::uint64_t v;
      if (plain && parse_seed(text, &v)) return json(v);
      bad_value(where, s, "\"" + text + "\"");
    }
    case ConfigKind::kFloat: {
      double d;
      if (plain && parse_float(text, &d)) return check_range(where, s, json(d));
      bad_value(where, s, "\"" + text + "\"");
    }
    case ConfigKind::kOptString:
      if (is_null) return json(nullptr);
      return check_range(where, s, json(text));
    case ConfigKind::kString:
    case ConfigKind::kChoice:
      if (is_null) bad_value(where, s, "null");
      return check_range(where, s, json(text));
  }
  bad_value(where, s, text);
}

// Coerces a JSON value (from a .json config or a saved config.json).
json coerce_json(const std::string& where, const ConfigKey& s, const json& v) {
  switch (s.kind) {
    case ConfigKind::kBool:
      if (v.is_boolean()) return v;
      break;
    case ConfigKind::kInt:
      if (v.is_number_integer()) return check_range(where, s, json(v.get<long long>()));
      if (v.is_number_float()) {
        double d = v.get<double>();
        if (d == std::floor(d) && std::fabs(d) < kIntMax) {
          return check_range(where, s, json(static_cast<long long>(d)));
        }
      }
      break;
    case ConfigKind::kSeed:
      if (v.is_number_unsigned()) return json(v.get<std::uint64_t>());
      if (v.is_number_integer() && v.get<long long>() >= 0) {
        return json(static_cast<std::uint64_t>(v.get<long long>()));
      }
      break;
    case ConfigKind::kFloat:
      if (v.is_number()) return check_range(where, s, json(v.get<double>()));
      break;
    case ConfigKind::kOptString:
      if (v.is_null()) return v;
      if (v.is_string()) return v;
      break;
    case ConfigKind::kString:
    case ConfigKind::kChoice:
      if (v.is_string()) return check_range(where, s, v);
      break;
  }
  bad_value(where, s, describe(v));
}

std::string yaml_where(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1);
}

void set_leaf(json* tree, const std::string& key, json value) {
  auto dot = key.find('.');
  if (dot == std::string::npos) {
    (*tree)[key] = std::move(value);
  } else {
    (*tree)[key.substr(0, dot)][key.substr(dot + 1)] = std::move(value);
  }
}

void apply_yaml_node(const Table& table, const YAML::Node& node, const std::string& prefix,
                     const std::string& file, json* tree) {
  if (!node.IsMap()) {
    fail_usage(yaml_where(file, node.Mark()) + ": expected a mapping of keys" +
               (prefix.empty() ? "" : " under '" + prefix + "'"));
  }
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary pair (a reference to
    // its members dangles; found by fuzzing under ASan).
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    if (!k.IsScalar()) fail_usage(yaml_where(file, k.Mark()) + ": keys must be plain names");
    std::string key = prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar();
    std::string where = yaml_where(file, k.Mark());
    // YAML says keys are unique; yaml-cpp would silently keep one of them.
    if (!seen.insert(k.Scalar()).second) fail_usage(where + ": duplicate key '" + key + "'");
    if (prefix.empty() && table.is_section(key)) {
      if (v.IsNull()) continue;
      apply_yaml_node(table, v, key, file, tree);
      continue;
    }
    const ConfigKey* s = table.find(key);
    if (s == nullptr) fail_usage(where + ": " + unknown_key_message(table, key));
    if (v.IsMap()) bad_value(where, *s, "a mapping");
    if (v.IsSequence()) bad_value(where, *s, "a list");
    std::string text = v.IsNull() ? "" : v.Scalar();
    bool plain = v.IsNull() || v.Tag() != "!";
    set_leaf(tree, key, coerce_scalar(where, *s, text, plain));
  }
}

void apply_json_node(const Table& table, const json& node, const std::string& prefix,
                     const std::string& where, json* tree) {
  if (!node.is_object()) {
    fail_usage(where + ": expected an object" + (prefix.empty() ? "" : " under '" + prefix + "'"));
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (prefix.empty() && table.is_section(key)) {
      if (it.value().is_null()) continue;
      apply_json_node(table, it.value(), key, where, tree);
      continue;
    }
    const ConfigKey* s = table.find(key);
    if (s == nullptr) fail_usage(where + ": " + unknown_key_message(table, key));
    set_leaf(tree, key, coerce_json(where, *s, it.value()));
  }
}

void apply_file(const Table& table, const std::string& path, json* tree) {
  if (is_directory(path))
    fail_usage(path + ": is a directory, expected a YAML or JSON config file");
  if (!path_exists(path)) fail_usage(path + ": config file not found");
  std::string text = read_file(path);
  bool is_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (is_json) {
    apply_json_node(table, parse_json(text, path), "", path, tree);
    return;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail_usage(path + ":" + std::to_string(e.mark.line + 1) + ":" +
               std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return;  // an empty file changes nothing
  apply_yaml_node(table, root, "", path, tree);
}

// Rules that involve more than one key.
void check_cross_keys(const Config& c) {
  if (c.tokenizer.ngrams > 1 && c.model.arch != "bow") {
    fail_usage("key 'tokenizer.ngrams': n-grams > 1 need model.arch=bow (got " + c.model.arch +
               ")");
  }
  if (c.tokenizer.hash_buckets > 0 && c.tokenizer.ngrams < 2) {
    fail_usage("key 'tokenizer.hash_buckets': hashes n-grams, so it needs tokenizer.ngrams >= 2");
  }
  const TokenizerConfig defaults;
  if (c.tokenizer.kind != "sentencepiece" &&
      (c.tokenizer.sp_type != defaults.sp_type || c.tokenizer.vocab_size != defaults.vocab_size ||
       !c.tokenizer.sp_model.empty())) {
    fail_usage(
        "keys 'tokenizer.sp_type'/'vocab_size'/'sp_model' apply to "
        "tokenizer.kind=sentencepiece (got " +
        c.tokenizer.kind + ")");
  }
  if (!c.tokenizer.sp_model.empty() &&
      (c.tokenizer.sp_type != defaults.sp_type || c.tokenizer.vocab_size != defaults.vocab_size)) {
    fail_usage(
        "key 'tokenizer.sp_model': an existing model is used as it is; drop "
        "tokenizer.sp_type and tokenizer.vocab_size");
  }
  // Sizes that pass their own ranges can still multiply to a model no machine
  // holds; say so here rather than failing on allocation. The embedding table
  // is left out: its rows are the vocabulary the data gives, which may be far
  // below tokenizer.max_vocab (the trainer checks it once the data is read).
  const double e = static_cast<double>(c.model.embed_dim),
               h = static_cast<double>(c.model.hidden_dim);
  const double layers = static_cast<double>(c.model.num_layers);
  const double dense = 4 * e * e * layers + 3 * e * h * layers + h * h +
                       static_cast<double>(c.tokenizer.max_len) * e;
  if (dense > 1.5e9) {
    fail_usage("keys 'model.embed_dim'/'model.hidden_dim': the model would have about " +
               fmt_number(std::floor(dense / 1e6)) +
               " million parameters besides its embedding table (limit 1500 million)");
  }
  if (c.model.arch != "bow" && c.model.hidden_dim == 0) {
    fail_usage("key 'model.hidden_dim': 0 (no hidden layer) is for model.arch=bow only; " +
               c.model.arch + " needs at least 1");
  }
  if (c.model.arch == "transformer" && c.model.embed_dim % c.model.num_heads != 0) {
    fail_usage("key 'model.num_heads': " + std::to_string(c.model.num_heads) +
               " does not divide model.embed_dim=" + std::to_string(c.model.embed_dim));
  }
  if (c.model.sparse) {
    const TrainingConfig& t = c.training;
    if (c.model.arch != "bow") {
      fail_usage("key 'model.sparse': sparse gradients are for bow's embedding table, not " +
                 c.model.arch);
    }
    if (t.optimizer == "adamw" || t.weight_decay > 0) {
      fail_usage(
          "key 'model.sparse': lazy updates leave untouched rows alone, so they take no "
          "weight decay (expected training.optimizer adam or sgd and "
          "training.weight_decay=0)");
    }
    if (t.optimizer == "sgd" && t.momentum > 0) {
      fail_usage(
          "key 'model.sparse': sgd on sparse gradients has no momentum (set "
          "training.momentum=0, or use training.optimizer=adam)");
    }
  }
  {
    const std::string& d = c.runtime.device;
    const bool index = d.size() > 5 && d.compare(0, 5, "cuda:") == 0 &&
                       d.find_first_not_of("0123456789", 5) == std::string::npos && d.size() < 9;
    if (d != "cpu" && d != "cuda" && d != "auto" && !index) {
      fail_usage("key 'runtime.device': \"" + d +
                 "\" is not a device (expected cpu, cuda, cuda:N or auto)");
    }
  }
  if (c.training.grad_shards > c.training.batch_size) {
    fail_usage("key 'training.grad_shards': " + std::to_string(c.training.grad_shards) +
               " shards of a batch of " + std::to_string(c.training.batch_size) +
               " (training.batch_size); at most one shard per example");
  }
  if (c.runtime.nproc > c.training.grad_shards) {
    fail_usage("key 'runtime.nproc': " + std::to_string(c.runtime.nproc) +
               " ranks for training.grad_shards=" + std::to_string(c.training.grad_shards) +
               "; each rank computes whole shards, so set training.grad_shards to at least " +
               std::to_string(c.runtime.nproc) + " (it is part of the run's identity)");
  }
}

Config finish(const json& tree) {
  Config c;
  for (const auto& s : specs()) {
    const std::string& name = s.key.name;
    const auto dot = name.find('.');
    set_value(s, &c,
              dot == std::string::npos ? tree.at(name)
                                       : tree.at(name.substr(0, dot)).at(name.substr(dot + 1)));
  }
  check_cross_keys(c);
  return c;
}

void apply_override_tree(const Table& table, json* tree, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos) {
    fail_usage("override '" + kv + "': expected KEY=VALUE (e.g. training.lr=5e-4)");
  }
  std::string key = kv.substr(0, eq);
  std::string value = kv.substr(eq + 1);
  std::string where = "override '" + kv + "'";
  if (key.empty()) fail_usage(where + ": empty key, expected KEY=VALUE");
  const ConfigKey* s = table.find(key);
  if (s == nullptr) {
    if (table.is_section(key)) {
      const auto& keys = *table.keys;
      fail_usage(where + ": '" + key + "' is a section; set one of its keys, e.g. " + key + "." +
                 leaf_name(std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& k) {
                             return k.name.rfind(key + ".", 0) == 0;
                           })->name));
    }
    fail_usage(where + ": " + unknown_key_message(table, key));
  }
  YAML::Node node;
  try {
    node = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    fail_usage(where + ": value is not valid YAML: " + e.msg);
  }
  if (node.IsMap()) bad_value(where, *s, "a mapping");
  if (node.IsSequence()) bad_value(where, *s, "a list");
  std::string text = node.IsNull() ? "" : node.Scalar();
  bool plain = node.IsNull() || node.Tag() != "!";
  if (node.IsNull() && !value.empty() && value != "~" && value != "null") text = value;
  set_leaf(tree, key, coerce_scalar(where, *s, text, plain));
}

}  // namespace

// ---- generic: a resolved tree over a table of keys ----

namespace {

json defaults_tree(const Table& table) {
  json t = json::object();
  for (const auto& k : *table.keys) set_leaf(&t, k.name, k.default_value);
  return t;
}

json leaf(const json& tree, const std::string& name) {
  const auto dot = name.find('.');
  return dot == std::string::npos ? tree.at(name)
                                  : tree.at(name.substr(0, dot)).at(name.substr(dot + 1));
}

// Without runtime; keys that joined after the identity format was fixed
// count only when set.
json identity_tree(const Table& table, const json& tree) {
  json t = tree;
  t.erase("runtime");
  for (const auto& k : *table.keys) {
    if (!k.if_set || k.runtime || leaf(tree, k.name) != k.default_value) continue;
    const auto dot = k.name.find('.');
    if (dot == std::string::npos) {
      t.erase(k.name);
    } else {
      t[k.name.substr(0, dot)].erase(k.name.substr(dot + 1));
    }
  }
  return t;
}

std::string yaml_tree(const Table& table, const json& tree) {
  YAML::Emitter out;
  // Table order reads better than alphabetical for humans.
  out << YAML::BeginMap;
  std::string section;
  for (const auto& k : *table.keys) {
    const std::string& key = k.name;
    auto dot = key.find('.');
    std::string sec = dot == std::string::npos ? "" : key.substr(0, dot);
    if (sec != section) {
      if (!section.empty()) out << YAML::EndMap;
      if (!sec.empty()) out << YAML::Key << sec << YAML::Value << YAML::BeginMap;
      section = sec;
    }
    const json v = leaf(tree, key);
    out << YAML::Key << (sec.empty() ? key : key.substr(dot + 1)) << YAML::Value;
    if (v.is_null()) {
      out << YAML::Null;
    } else if (v.is_boolean()) {
      out << v.get<bool>();
    } else if (v.is_number_float()) {
      out << python_float_repr(v.get<double>());
    } else if (v.is_number()) {
      out << v.dump();
    } else {
      out << YAML::DoubleQuoted << v.get<std::string>();
    }
  }
  if (!section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// defaults < file < --seed / --deterministic < overrides.
json resolve_tree(const Table& table, const ConfigSources& src) {
  json tree = defaults_tree(table);
  if (!src.file.empty()) apply_file(table, src.file, &tree);
  if (src.seed) {
    std::uint64_t v;
    if (!parse_seed(*src.seed, &v)) {
      fail_usage("--seed: expected an integer in [0, 18446744073709551615], got \"" + *src.seed +
                 "\"");
    }
    tree["seed"] = v;
  }
  if (src.deterministic) tree["deterministic"] = *src.deterministic;
  for (const auto& o : src.overrides) apply_override_tree(table, &tree, o);
  return tree;
}

}  // namespace

nlohmann::json Config::to_json() const {
  json t = json::object();
  for (const auto& s : specs()) set_leaf(&t, s.key.name, get_value(s, *this));
  return t;
}

nlohmann::json Config::identity_json() const { return identity_tree(builtin_table(), to_json()); }

std::string Config::canonical() const { return canonical_json(identity_json()); }

std::string Config::run_id() const { return sha1_hex(canonical()).substr(0, 8); }

std::string Config::to_yaml() const { return yaml_tree(builtin_table(), to_json()); }

Config resolve_config(const ConfigSources& src) {
  return finish(resolve_tree(builtin_table(), src));
}

Config config_from_json(const nlohmann::json& j, const std::string& where) {
  json tree = Config().to_json();
  apply_json_node(builtin_table(), j, "", where, &tree);
  return finish(tree);
}

void apply_override(Config* cfg, const std::string& kv) {
  json tree = cfg->to_json();
  apply_override_tree(builtin_table(), &tree, kv);
  *cfg = finish(tree);
}

const std::vector<ConfigKey>& config_table() {
  static const std::vector<ConfigKey> kTable = [] {
    std::vector<ConfigKey> keys;
    for (const auto& s : specs()) keys.push_back(s.key);
    return keys;
  }();
  return kTable;
}

const std::vector<std::string>& config_keys() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys;
    for (const auto& s : specs()) keys.push_back(s.key.name);
    return keys;
  }();
  return kKeys;
}

std::string suggest_key(const std::string& key) { return builtin_table().suggest(key); }

// ---- ConfigSpec: a program's own table, on the same machinery ----

ConfigSpec::ConfigSpec() {
  // Every run is seeded from its identity; the Run API reads these two.
  for (const auto& k : config_table()) {
    if (k.name == "seed" || k.name == "deterministic") keys_.push_back(k);
  }
}

ConfigSpec& ConfigSpec::key(ConfigKey k) {
  const std::string& n = k.name;
  const auto bad_name = [&](const std::string& why) {
    fail_usage("ConfigSpec: key '" + n + "': " + why);
  };
  if (n.empty() || n.front() == '.' || n.back() == '.') bad_name("expected a dotted name");
  for (char c : n) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '.')) {
      bad_name("use lower-case letters, digits, '_' and one '.'");
    }
  }
  if (std::count(n.begin(), n.end(), '.') > 1) bad_name("at most one '.' (section.key)");
  const Table table{&keys_};
  if (table.find(n) != nullptr) bad_name("declared twice");
  if (table.is_section(n)) bad_name("is already a section");
  const auto dot = n.find('.');
  if (dot != std::string::npos && table.find(n.substr(0, dot)) != nullptr) {
    bad_name("its section '" + n.substr(0, dot) + "' is already a key");
  }
  k.runtime = n.rfind("runtime.", 0) == 0;
  // The default must pass the key's own checks.
  k.default_value = k.kind == ConfigKind::kOptString && k.default_value == ""
                        ? json(nullptr)
                        : coerce_json("ConfigSpec default", k, k.default_value);
  keys_.push_back(std::move(k));
  return *this;
}

namespace {
ConfigKey declared(const std::string& name, ConfigKind kind, json def, double lo, double hi,
                   const std::string& doc) {
  ConfigKey k;
  k.name = name;
  k.kind = kind;
  k.default_value = std::move(def);
  k.min = lo;
  k.max = hi;
  k.doc = doc;
  return k;
}
}  // namespace

ConfigSpec& ConfigSpec::boolean(const std::string& name, bool def, const std::string& doc) {
  return key(declared(name, ConfigKind::kBool, def, 0, 0, doc));
}
ConfigSpec& ConfigSpec::integer(const std::string& name, std::int64_t def, std::int64_t min,
                                std::int64_t max, const std::string& doc) {
  return key(declared(name, ConfigKind::kInt, def, static_cast<double>(min),
                      static_cast<double>(max), doc));
}
ConfigSpec& ConfigSpec::number(const std::string& name, double def, double min, double max,
                               const std::string& doc) {
  return key(declared(name, ConfigKind::kFloat, def, min, max, doc));
}
ConfigSpec& ConfigSpec::text(const std::string& name, const std::string& def,
                             const std::string& doc) {
  return key(declared(name, ConfigKind::kString, def, 0, 0, doc));
}
ConfigSpec& ConfigSpec::optional_text(const std::string& name, const std::string& def,
                                      const std::string& doc) {
  return key(declared(name, ConfigKind::kOptString, def, 0, 0, doc));
}
ConfigSpec& ConfigSpec::choice(const std::string& name, const std::string& def,
                               const std::vector<std::string>& choices, const std::string& doc) {
  ConfigKey k = declared(name, ConfigKind::kChoice, def, 0, 0, doc);
  k.choices = choices;
  return key(std::move(k));
}

ConfigSpec& ConfigSpec::run_keys() {
  for (const char* name :
       {"runtime.output_dir", "runtime.threads", "runtime.cpu_capability", "runtime.nproc",
        "runtime.dist_timeout", "runtime.checkpoint_every", "runtime.trace_every"}) {
    for (const auto& k : config_table()) {
      if (k.name != name) continue;
      ConfigKey copy = k;
      if (copy.name == "runtime.nproc") {
        copy.doc = "ranks this program starts on this machine; never changes results";
      }
      key(copy);
    }
  }
  return *this;
}

Settings ConfigSpec::resolve(const ConfigSources& sources) const {
  const Table table{&keys_};
  Settings out;
  out.keys_ = keys_;
  out.tree_ = resolve_tree(table, sources);
  return out;
}

Settings ConfigSpec::from_json(const nlohmann::json& j, const std::string& where) const {
  const Table table{&keys_};
  Settings out;
  out.keys_ = keys_;
  out.tree_ = defaults_tree(table);
  apply_json_node(table, j, "", where, &out.tree_);
  return out;
}

CommandLine ConfigSpec::parse(const std::vector<std::string>& args) const {
  CommandLine cl;
  ConfigSources src;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (a.size() > flag.size() && a.compare(0, flag.size() + 1, flag + "=") == 0) {
        return a.substr(flag.size() + 1);
      }
      if (i + 1 >= args.size()) fail_usage(flag + ": expected a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      cl.help = true;
    } else if (a == "-c" || a == "--config" || a.rfind("--config=", 0) == 0) {
      src.file = value(a == "-c" ? "-c" : "--config");
    } else if (a == "--seed" || a.rfind("--seed=", 0) == 0) {
      src.seed = value("--seed");
    } else if (a == "--deterministic") {
      src.deterministic = true;
    } else if (a.rfind("--deterministic=", 0) == 0) {
      const std::string v = a.substr(16);
      if (v != "true" && v != "false") {
        fail_usage("--deterministic: expected true or false, got \"" + v + "\"");
      }
      src.deterministic = v == "true";
    } else if (a.size() > 1 && a[0] == '-') {
      fail_usage("unknown option '" + a +
                 "' (expected -c FILE, --seed N, --deterministic, --help "
                 "or KEY=VALUE)");
    } else if (a.find('=') != std::string::npos && a.find('=') > 0 && a.find('/') > a.find('=')) {
      src.overrides.push_back(a);
    } else {
      cl.positional.push_back(a);
    }
  }
  if (!cl.help) cl.settings = resolve(src);
  return cl;
}

std::string ConfigSpec::help(const std::string& usage) const {
  std::ostringstream o;
  o << "usage: " << usage << "\n\n"
    << "Options: -c FILE (YAML or JSON config), --seed N, --deterministic[=BOOL], KEY=VALUE\n"
    << "(defaults < FILE < --seed/--deterministic < KEY=VALUE; runtime.* keys never change\n"
    << "results and are not part of the run identity).\n\nKeys:\n";
  std::size_t width = 0;
  for (const auto& k : keys_) width = std::max(width, k.name.size());
  for (const auto& k : keys_) {
    o << "  " << k.name << std::string(width + 2 - k.name.size(), ' ') << type_name(k);
    if (k.kind == ConfigKind::kInt || k.kind == ConfigKind::kFloat) {
      o << " in [" << fmt_number(k.min) << ", " << fmt_number(k.max) << "]";
    }
    o << ", default "
      << (k.default_value.is_string() ? k.default_value.get<std::string>()
                                      : json_line(k.default_value))
      << "\n"
      << std::string(width + 4, ' ') << k.doc << "\n";
  }
  return o.str();
}

std::string ConfigSpec::suggest(const std::string& key) const { return Table{&keys_}.suggest(key); }

const nlohmann::json& Settings::get(const std::string& key) const {
  for (const auto& k : keys_) {
    if (k.name == key) {
      const auto dot = key.find('.');
      return dot == std::string::npos ? tree_.at(key)
                                      : tree_.at(key.substr(0, dot)).at(key.substr(dot + 1));
    }
  }
  const std::string s = Table{&keys_}.suggest(key);
  fail_usage("Settings: no key '" + key + "' was declared" +
             (s.empty() ? "" : " (did you mean '" + s + "'?)"));
}

namespace {
[[noreturn]] void wrong_kind(const std::string& key, const char* asked) {
  fail_usage("Settings: key '" + key + "' is not " + asked);
}
}  // namespace

bool Settings::boolean(const std::string& key) const {
  const nlohmann::json& v = get(key);
  if (!v.is_boolean()) wrong_kind(key, "a bool");
  return v.get<bool>();
}
std::int64_t Settings::integer(const std::string& key) const {
  const nlohmann::json& v = get(key);
  if (!v.is_number_integer()) wrong_kind(key, "an integer");
  return v.get<std::int64_t>();
}
double Settings::number(const std::string& key) const {
  const nlohmann::json& v = get(key);
  if (!v.is_number()) wrong_kind(key, "a number");
  return v.get<double>();
}
std::string Settings::text(const std::string& key) const {
  const nlohmann::json& v = get(key);
  if (v.is_null()) return "";
  if (!v.is_string()) wrong_kind(key, "a string");
  return v.get<std::string>();
}
std::uint64_t Settings::seed() const { return get("seed").get<std::uint64_t>(); }
bool Settings::deterministic() const { return boolean("deterministic"); }

nlohmann::json Settings::identity() const { return identity_tree(Table{&keys_}, tree_); }
std::string Settings::canonical() const { return canonical_json(identity()); }
std::string Settings::run_id() const { return sha1_hex(canonical()).substr(0, 8); }
std::string Settings::to_yaml() const { return yaml_tree(Table{&keys_}, tree_); }

nlohmann::ordered_json config_json_schema() {
  using ojson = nlohmann::ordered_json;
  ojson root = {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
                {"title", "ml-train config"},
                {"description",
                 "A YAML or JSON config file for ml-train. Every key is optional; a missing key "
                 "keeps its default. runtime.* keys are execution settings, not part of the run "
                 "identity."},
                {"type", "object"},
                {"additionalProperties", false},
                {"properties", ojson::object()}};
  for (const ConfigKey& k : config_table()) {
    ojson p = {{"description", k.doc}, {"default", ojson(k.default_value)}};
    // An annotation: in the run identity only when it differs from the default.
    if (k.if_set) p["x-identity"] = "when set";
    switch (k.kind) {
      case ConfigKind::kBool:
        p["type"] = "boolean";
        break;
      case ConfigKind::kSeed:
        p["type"] = "integer";
        p["minimum"] = 0;
        p["maximum"] = std::numeric_limits<std::uint64_t>::max();
        break;
      case ConfigKind::kInt:
      case ConfigKind::kFloat:
        p["type"] = k.kind == ConfigKind::kInt ? "integer" : "number";
        p["minimum"] =
            k.kind == ConfigKind::kInt ? ojson(static_cast<std::int64_t>(k.min)) : ojson(k.min);
        if (std::isfinite(k.max)) {
          p["maximum"] =
              k.kind == ConfigKind::kInt ? ojson(static_cast<std::int64_t>(k.max)) : ojson(k.max);
        }
        break;
      case ConfigKind::kString:
        p["type"] = "string";
        p["minLength"] = 1;
        break;
      case ConfigKind::kOptString:
        p["type"] = ojson::array({"string", "null"});
        break;
      case ConfigKind::kChoice:
        p["type"] = "string";
        p["enum"] = k.choices;
        break;
    }
    const auto dot = k.name.find('.');
    if (dot == std::string::npos) {
      root["properties"][k.name] = p;
      continue;
    }
    ojson& section = root["properties"][k.name.substr(0, dot)];
    if (section.is_null()) {
      section = {{"type", ojson::array({"object", "null"})},
                 {"additionalProperties", false},
                 {"properties", ojson::object()}};
    }
    section["properties"][k.name.substr(dot + 1)] = p;
  }
  return root;
}

KeyValues parse_key_values(const std::string& spec, const std::string& flag, const Config& base) {
  const std::string where = flag + " '" + spec + "'";
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) fail_usage(where + ": expected KEY=V1,V2,...");
  KeyValues kv{spec.substr(0, eq), {}};
  const std::string list = spec.substr(eq + 1);
  if (list.empty()) fail_usage(where + ": no values, expected KEY=V1,V2,...");
  std::size_t pos = 0;
  while (true) {
    const auto comma = list.find(',', pos);
    std::string value =
        list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (value.empty()) {
      fail_usage(where + ": empty value at position " + std::to_string(kv.values.size() + 1) +
                 " (expected KEY=V1,V2,... with no empty entries)");
    }
    Config check = base;
    apply_override(&check, kv.key + "=" + value);  // validates key and value now
    kv.values.push_back(value);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return kv;
}

}  // namespace mltrain
