#include "mltrain/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "mltrain/canonical_json.h"
#include "mltrain/error.h"
#include "mltrain/fs.h"
#include "mltrain/hash.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

enum class Type { kBool, kInt, kSeed, kFloat, kString, kOptString, kChoice };

struct KeySpec {
  const char* key;
  Type type;
  double min;
  double max;
  std::vector<std::string> choices;
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kIntMax = 9.0e15;

// The schema: every leaf key, its type and its allowed range or choices.
const std::vector<KeySpec>& schema() {
  static const std::vector<KeySpec> kSchema = {
      {"seed", Type::kSeed, 0, 0, {}},
      {"deterministic", Type::kBool, 0, 0, {}},
      {"data.train_path", Type::kString, 0, 0, {}},
      {"data.val_path", Type::kString, 0, 0, {}},
      {"data.test_path", Type::kOptString, 0, 0, {}},
      {"data.format", Type::kChoice, 0, 0, {"auto", "jsonl", "csv", "tsv"}},
      {"data.text_field", Type::kString, 0, 0, {}},
      {"data.label_field", Type::kString, 0, 0, {}},
      {"tokenizer.kind", Type::kChoice, 0, 0, {"word", "char"}},
      {"tokenizer.lowercase", Type::kBool, 0, 0, {}},
      {"tokenizer.max_len", Type::kInt, 1, 100000, {}},
      {"tokenizer.min_freq", Type::kInt, 1, kIntMax, {}},
      {"tokenizer.max_vocab", Type::kInt, 3, 50000000, {}},
      {"tokenizer.ngrams", Type::kInt, 1, 5, {}},
      {"model.arch", Type::kChoice, 0, 0, {"bow", "cnn", "transformer"}},
      {"model.embed_dim", Type::kInt, 1, 65536, {}},
      {"model.hidden_dim", Type::kInt, 1, 65536, {}},
      {"model.num_layers", Type::kInt, 1, 64, {}},
      {"model.num_heads", Type::kInt, 1, 256, {}},
      {"model.dropout", Type::kFloat, 0, 0.999, {}},
      {"model.init_from", Type::kOptString, 0, 0, {}},
      {"training.epochs", Type::kInt, 1, 100000, {}},
      {"training.batch_size", Type::kInt, 1, 1000000, {}},
      {"training.lr", Type::kFloat, 0, 100, {}},
      {"training.optimizer", Type::kChoice, 0, 0, {"sgd", "adam", "adamw"}},
      {"training.momentum", Type::kFloat, 0, 0.999999, {}},
      {"training.weight_decay", Type::kFloat, 0, 10, {}},
      {"training.grad_clip", Type::kFloat, 0, kInf, {}},
      {"training.scheduler", Type::kChoice, 0, 0, {"constant", "linear", "cosine", "step"}},
      {"training.warmup_steps", Type::kInt, 0, kIntMax, {}},
      {"training.step_size", Type::kInt, 1, 100000, {}},
      {"training.gamma", Type::kFloat, 0, 1, {}},
      {"training.token_dropout", Type::kFloat, 0, 0.99, {}},
      {"runtime.output_dir", Type::kString, 0, 0, {}},
      {"runtime.num_workers", Type::kInt, 0, 256, {}},
      {"runtime.threads", Type::kInt, 0, 1024, {}},
      {"runtime.checkpoint_every", Type::kInt, 0, kIntMax, {}},
      {"runtime.log_every", Type::kInt, 1, kIntMax, {}},
      {"runtime.trace_every", Type::kInt, 1, kIntMax, {}},
      {"runtime.progress", Type::kBool, 0, 0, {}},
  };
  return kSchema;
}

const KeySpec* find_spec(const std::string& key) {
  for (const auto& s : schema()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

bool is_section(const std::string& key) {
  return key == "data" || key == "tokenizer" || key == "model" || key == "training" ||
         key == "runtime";
}

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

std::string unknown_key_message(const std::string& key) {
  std::string msg = "unknown key '" + key + "'";
  std::string s = suggest_key(key);
  if (!s.empty()) msg += " (did you mean '" + s + "'?)";
  return msg;
}

std::string type_name(const KeySpec& s) {
  switch (s.type) {
    case Type::kBool: return "true or false";
    case Type::kInt: return "an integer";
    case Type::kSeed: return "an integer in [0, 18446744073709551615]";
    case Type::kFloat: return "a number";
    case Type::kString: return "a string";
    case Type::kOptString: return "a string or null";
    case Type::kChoice: {
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
  return v.dump();
}

[[noreturn]] void bad_value(const std::string& where, const KeySpec& s, const std::string& got) {
  fail_usage(where + ": key '" + s.key + "': expected " + type_name(s) + ", got " + got);
}

// Range and choice checks on an already typed value.
json check_range(const std::string& where, const KeySpec& s, const json& v) {
  if (s.type == Type::kInt || s.type == Type::kFloat) {
    double d = v.get<double>();
    if (std::isnan(d) || d < s.min || d > s.max) {
      fail_usage(where + ": key '" + s.key + "': " + describe(v) + " is out of range [" +
                 fmt_number(s.min) + ", " + fmt_number(s.max) + "]");
    }
  }
  if (s.type == Type::kChoice) {
    const std::string& str = v.get_ref<const std::string&>();
    if (std::find(s.choices.begin(), s.choices.end(), str) == s.choices.end()) {
      fail_usage(where + ": key '" + s.key + "': unknown choice \"" + str + "\" (expected " +
                 type_name(s) + ")");
    }
  }
  if (s.type == Type::kString && v.get_ref<const std::string&>().empty()) {
    fail_usage(where + ": key '" + s.key + "': must not be empty");
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
json coerce_scalar(const std::string& where, const KeySpec& s, const std::string& text,
                   bool plain) {
  const bool is_null = plain && (text.empty() || text == "~" || text == "null" ||
                                 text == "Null" || text == "NULL");
  switch (s.type) {
    case Type::kBool:
      if (plain && (text == "true" || text == "True" || text == "TRUE")) return true;
      if (plain && (text == "false" || text == "False" || text == "FALSE")) return false;
      bad_value(where, s, "\"" + text + "\"");
    case Type::kInt: {
      long long v;
      double d;
      if (plain && parse_int(text, &v)) return check_range(where, s, json(v));
      if (plain && parse_float(text, &d) && d == std::floor(d) && std::fabs(d) < kIntMax) {
        return check_range(where, s, json(static_cast<long long>(d)));
      }
      bad_value(where, s, "\"" + text + "\"");
    }
    case Type::kSeed: {
      std::uint64_t v;
      if (plain && parse_seed(text, &v)) return json(v);
      bad_value(where, s, "\"" + text + "\"");
    }
    case Type::kFloat: {
      double d;
      if (plain && parse_float(text, &d)) return check_range(where, s, json(d));
      bad_value(where, s, "\"" + text + "\"");
    }
    case Type::kOptString:
      if (is_null) return json(nullptr);
      return json(text);
    case Type::kString:
    case Type::kChoice:
      if (is_null) bad_value(where, s, "null");
      return check_range(where, s, json(text));
  }
  bad_value(where, s, text);
}

// Coerces a JSON value (from a .json config or a saved config.json).
json coerce_json(const std::string& where, const KeySpec& s, const json& v) {
  switch (s.type) {
    case Type::kBool:
      if (v.is_boolean()) return v;
      break;
    case Type::kInt:
      if (v.is_number_integer()) return check_range(where, s, json(v.get<long long>()));
      if (v.is_number_float()) {
        double d = v.get<double>();
        if (d == std::floor(d) && std::fabs(d) < kIntMax) {
          return check_range(where, s, json(static_cast<long long>(d)));
        }
      }
      break;
    case Type::kSeed:
      if (v.is_number_unsigned()) return json(v.get<std::uint64_t>());
      if (v.is_number_integer() && v.get<long long>() >= 0) {
        return json(static_cast<std::uint64_t>(v.get<long long>()));
      }
      break;
    case Type::kFloat:
      if (v.is_number()) return check_range(where, s, json(v.get<double>()));
      break;
    case Type::kOptString:
      if (v.is_null()) return v;
      if (v.is_string()) return v;
      break;
    case Type::kString:
    case Type::kChoice:
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

void apply_yaml_node(const YAML::Node& node, const std::string& prefix, const std::string& file,
                     json* tree) {
  if (!node.IsMap()) {
    fail_usage(yaml_where(file, node.Mark()) + ": expected a mapping of keys" +
               (prefix.empty() ? "" : " under '" + prefix + "'"));
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node& k = it->first;
    const YAML::Node& v = it->second;
    if (!k.IsScalar()) fail_usage(yaml_where(file, k.Mark()) + ": keys must be plain names");
    std::string key = prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar();
    std::string where = yaml_where(file, k.Mark());
    if (prefix.empty() && is_section(key)) {
      if (v.IsNull()) continue;
      apply_yaml_node(v, key, file, tree);
      continue;
    }
    const KeySpec* s = find_spec(key);
    if (s == nullptr) fail_usage(where + ": " + unknown_key_message(key));
    if (v.IsMap()) bad_value(where, *s, "a mapping");
    if (v.IsSequence()) bad_value(where, *s, "a list");
    std::string text = v.IsNull() ? "" : v.Scalar();
    bool plain = v.IsNull() || v.Tag() != "!";
    set_leaf(tree, key, coerce_scalar(where, *s, text, plain));
  }
}

void apply_json_node(const json& node, const std::string& prefix, const std::string& where,
                     json* tree) {
  if (!node.is_object()) {
    fail_usage(where + ": expected an object" + (prefix.empty() ? "" : " under '" + prefix + "'"));
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (prefix.empty() && is_section(key)) {
      if (it.value().is_null()) continue;
      apply_json_node(it.value(), key, where, tree);
      continue;
    }
    const KeySpec* s = find_spec(key);
    if (s == nullptr) fail_usage(where + ": " + unknown_key_message(key));
    set_leaf(tree, key, coerce_json(where, *s, it.value()));
  }
}

// 1-based line and column of a byte offset.
std::string line_col(const std::string& text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

void apply_file(const std::string& path, json* tree) {
  if (is_directory(path)) fail_usage(path + ": is a directory, expected a YAML or JSON config file");
  if (!path_exists(path)) fail_usage(path + ": config file not found");
  std::string text = read_file(path);
  bool is_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (is_json) {
    json j;
    try {
      j = json::parse(text);
    } catch (const json::parse_error& e) {
      std::string msg = e.what();
      std::string detail = msg;
      auto syn = msg.find("syntax error");
      if (syn != std::string::npos) detail = msg.substr(syn);
      std::size_t byte = e.byte > 0 ? e.byte - 1 : 0;
      fail_usage(path + ":" + line_col(text, byte) + ": invalid JSON: " + detail);
    }
    apply_json_node(j, "", path, tree);
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
  apply_yaml_node(root, "", path, tree);
}

std::string get_opt_string(const json& j) { return j.is_null() ? "" : j.get<std::string>(); }
json opt_string(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

Config from_tree(const json& t) {
  Config c;
  c.seed = t.at("seed").get<std::uint64_t>();
  c.deterministic = t.at("deterministic").get<bool>();
  const json& d = t.at("data");
  c.data.train_path = d.at("train_path").get<std::string>();
  c.data.val_path = d.at("val_path").get<std::string>();
  c.data.test_path = get_opt_string(d.at("test_path"));
  c.data.format = d.at("format").get<std::string>();
  c.data.text_field = d.at("text_field").get<std::string>();
  c.data.label_field = d.at("label_field").get<std::string>();
  const json& k = t.at("tokenizer");
  c.tokenizer.kind = k.at("kind").get<std::string>();
  c.tokenizer.lowercase = k.at("lowercase").get<bool>();
  c.tokenizer.max_len = k.at("max_len").get<std::int64_t>();
  c.tokenizer.min_freq = k.at("min_freq").get<std::int64_t>();
  c.tokenizer.max_vocab = k.at("max_vocab").get<std::int64_t>();
  c.tokenizer.ngrams = k.at("ngrams").get<std::int64_t>();
  const json& m = t.at("model");
  c.model.arch = m.at("arch").get<std::string>();
  c.model.embed_dim = m.at("embed_dim").get<std::int64_t>();
  c.model.hidden_dim = m.at("hidden_dim").get<std::int64_t>();
  c.model.num_layers = m.at("num_layers").get<std::int64_t>();
  c.model.num_heads = m.at("num_heads").get<std::int64_t>();
  c.model.dropout = m.at("dropout").get<double>();
  c.model.init_from = get_opt_string(m.at("init_from"));
  const json& tr = t.at("training");
  c.training.epochs = tr.at("epochs").get<std::int64_t>();
  c.training.batch_size = tr.at("batch_size").get<std::int64_t>();
  c.training.lr = tr.at("lr").get<double>();
  c.training.optimizer = tr.at("optimizer").get<std::string>();
  c.training.momentum = tr.at("momentum").get<double>();
  c.training.weight_decay = tr.at("weight_decay").get<double>();
  c.training.grad_clip = tr.at("grad_clip").get<double>();
  c.training.scheduler = tr.at("scheduler").get<std::string>();
  c.training.warmup_steps = tr.at("warmup_steps").get<std::int64_t>();
  c.training.step_size = tr.at("step_size").get<std::int64_t>();
  c.training.gamma = tr.at("gamma").get<double>();
  c.training.token_dropout = tr.at("token_dropout").get<double>();
  const json& r = t.at("runtime");
  c.runtime.output_dir = r.at("output_dir").get<std::string>();
  c.runtime.num_workers = r.at("num_workers").get<std::int64_t>();
  c.runtime.threads = r.at("threads").get<std::int64_t>();
  c.runtime.checkpoint_every = r.at("checkpoint_every").get<std::int64_t>();
  c.runtime.log_every = r.at("log_every").get<std::int64_t>();
  c.runtime.trace_every = r.at("trace_every").get<std::int64_t>();
  c.runtime.progress = r.at("progress").get<bool>();
  return c;
}

// Rules that involve more than one key.
void check_cross_keys(const Config& c) {
  if (c.tokenizer.ngrams > 1 && c.model.arch != "bow") {
    fail_usage("key 'tokenizer.ngrams': n-grams > 1 need model.arch=bow (got " + c.model.arch +
               ")");
  }
  if (c.tokenizer.ngrams > 1 && c.tokenizer.kind != "word") {
    fail_usage("key 'tokenizer.ngrams': n-grams > 1 need tokenizer.kind=word");
  }
  // Sizes that pass their own ranges can still multiply to a model no machine
  // holds; say so here rather than failing on allocation.
  const double e = static_cast<double>(c.model.embed_dim), h = static_cast<double>(c.model.hidden_dim);
  const double layers = static_cast<double>(c.model.num_layers);
  const double dense = 4 * e * e * layers + 3 * e * h * layers + h * h +
                       static_cast<double>(c.tokenizer.max_len) * e;
  const double embedding = std::min(static_cast<double>(c.tokenizer.max_vocab), 2e6) * e;
  if (dense + embedding > 1.5e9) {
    fail_usage("keys 'model.embed_dim'/'model.hidden_dim'/'tokenizer.max_vocab': the model would "
               "have about " + fmt_number(std::floor((dense + embedding) / 1e6)) +
               " million parameters (limit 1500 million)");
  }
  if (c.model.arch == "transformer" && c.model.embed_dim % c.model.num_heads != 0) {
    fail_usage("key 'model.num_heads': " + std::to_string(c.model.num_heads) +
               " does not divide model.embed_dim=" + std::to_string(c.model.embed_dim));
  }
}

Config finish(const json& tree) {
  Config c = from_tree(tree);
  check_cross_keys(c);
  return c;
}

void apply_override_tree(json* tree, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos) {
    fail_usage("override '" + kv + "': expected KEY=VALUE (e.g. training.lr=5e-4)");
  }
  std::string key = kv.substr(0, eq);
  std::string value = kv.substr(eq + 1);
  std::string where = "override '" + kv + "'";
  if (key.empty()) fail_usage(where + ": empty key, expected KEY=VALUE");
  const KeySpec* s = find_spec(key);
  if (s == nullptr) {
    if (is_section(key)) {
      fail_usage(where + ": '" + key + "' is a section; set one of its keys, e.g. " + key + "." +
                 leaf_name(*std::find_if(config_keys().begin(), config_keys().end(),
                                         [&](const std::string& k) {
                                           return k.rfind(key + ".", 0) == 0;
                                         })));
    }
    fail_usage(where + ": " + unknown_key_message(key));
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

nlohmann::json Config::to_json() const {
  json t;
  t["seed"] = seed;
  t["deterministic"] = deterministic;
  t["data"] = {{"train_path", data.train_path},   {"val_path", data.val_path},
               {"test_path", opt_string(data.test_path)}, {"format", data.format},
               {"text_field", data.text_field},   {"label_field", data.label_field}};
  t["tokenizer"] = {{"kind", tokenizer.kind},           {"lowercase", tokenizer.lowercase},
                    {"max_len", tokenizer.max_len},     {"min_freq", tokenizer.min_freq},
                    {"max_vocab", tokenizer.max_vocab}, {"ngrams", tokenizer.ngrams}};
  t["model"] = {{"arch", model.arch},           {"embed_dim", model.embed_dim},
                {"hidden_dim", model.hidden_dim}, {"num_layers", model.num_layers},
                {"num_heads", model.num_heads},   {"dropout", model.dropout},
                {"init_from", opt_string(model.init_from)}};
  t["training"] = {{"epochs", training.epochs},
                   {"batch_size", training.batch_size},
                   {"lr", training.lr},
                   {"optimizer", training.optimizer},
                   {"momentum", training.momentum},
                   {"weight_decay", training.weight_decay},
                   {"grad_clip", training.grad_clip},
                   {"scheduler", training.scheduler},
                   {"warmup_steps", training.warmup_steps},
                   {"step_size", training.step_size},
                   {"gamma", training.gamma},
                   {"token_dropout", training.token_dropout}};
  t["runtime"] = {{"output_dir", runtime.output_dir},
                  {"num_workers", runtime.num_workers},
                  {"threads", runtime.threads},
                  {"checkpoint_every", runtime.checkpoint_every},
                  {"log_every", runtime.log_every},
                  {"trace_every", runtime.trace_every},
                  {"progress", runtime.progress}};
  return t;
}

nlohmann::json Config::identity_json() const {
  json t = to_json();
  t.erase("runtime");
  return t;
}

std::string Config::canonical() const { return canonical_json(identity_json()); }

std::string Config::run_id() const { return sha1_hex(canonical()).substr(0, 8); }

std::string Config::to_yaml() const {
  YAML::Emitter out;
  json t = to_json();
  // Schema order reads better than alphabetical for humans.
  out << YAML::BeginMap;
  std::string section;
  for (const auto& s : schema()) {
    std::string key = s.key;
    auto dot = key.find('.');
    std::string sec = dot == std::string::npos ? "" : key.substr(0, dot);
    if (sec != section) {
      if (!section.empty()) out << YAML::EndMap;
      if (!sec.empty()) out << YAML::Key << sec << YAML::Value << YAML::BeginMap;
      section = sec;
    }
    const json& v = sec.empty() ? t.at(key) : t.at(sec).at(key.substr(dot + 1));
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

Config resolve_config(const ConfigSources& src) {
  json tree = Config().to_json();
  if (!src.file.empty()) apply_file(src.file, &tree);
  if (src.seed) {
    std::uint64_t v;
    if (!parse_seed(*src.seed, &v)) {
      fail_usage("--seed: expected an integer in [0, 18446744073709551615], got \"" + *src.seed +
                 "\"");
    }
    tree["seed"] = v;
  }
  if (src.deterministic) tree["deterministic"] = *src.deterministic;
  for (const auto& o : src.overrides) apply_override_tree(&tree, o);
  return finish(tree);
}

Config config_from_json(const nlohmann::json& j, const std::string& where) {
  json tree = Config().to_json();
  apply_json_node(j, "", where, &tree);
  return finish(tree);
}

void apply_override(Config* cfg, const std::string& kv) {
  json tree = cfg->to_json();
  apply_override_tree(&tree, kv);
  *cfg = finish(tree);
}

const std::vector<std::string>& config_keys() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys;
    for (const auto& s : schema()) keys.push_back(s.key);
    return keys;
  }();
  return kKeys;
}

std::string suggest_key(const std::string& key) {
  std::string best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  for (const auto& k : config_keys()) {
    std::size_t d = edit_distance(key, k);
    // The same leaf name under another section is a good guess too.
    if (leaf_name(k) == leaf_name(key)) d = std::min<std::size_t>(d, 1);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, key.size() / 3);
  return best_d <= limit ? best : "";
}

}  // namespace mltrain
