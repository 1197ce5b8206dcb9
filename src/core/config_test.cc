#include "mltrain/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>

#include "core/hash.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  char tmpl[] = "/tmp/mltrain_cfg_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const ConfigSources& s) {
  try {
    resolve_config(s);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    return e.what();
  }
  return "";
}

TEST(Config, Defaults) {
  Config c = resolve_config({});
  EXPECT_EQ(c.seed, 42u);
  EXPECT_FALSE(c.deterministic);
  EXPECT_EQ(c.model.arch, "bow");
}

TEST(Config, ResolutionOrder) {
  std::string f = write_temp("c.yaml", "seed: 5\ntraining:\n  lr: 0.1\n  epochs: 7\n");
  ConfigSources s;
  s.file = f;
  Config c = resolve_config(s);
  EXPECT_EQ(c.seed, 5u);
  EXPECT_EQ(c.training.lr, 0.1);
  s.seed = "9";  // --seed beats the file
  s.deterministic = true;
  s.overrides = {"training.lr=5e-4", "seed=11"};  // overrides beat --seed
  c = resolve_config(s);
  EXPECT_EQ(c.seed, 11u);
  EXPECT_TRUE(c.deterministic);
  EXPECT_EQ(c.training.lr, 5e-4);
  EXPECT_EQ(c.training.epochs, 7);
}

TEST(Config, JsonFileWorksLikeYaml) {
  std::string f = write_temp("c.json", R"({"seed": 3, "model": {"arch": "cnn"}})");
  ConfigSources s;
  s.file = f;
  Config c = resolve_config(s);
  EXPECT_EQ(c.seed, 3u);
  EXPECT_EQ(c.model.arch, "cnn");
}

TEST(Config, RunIdIsSha1OfCanonicalAndIgnoresRuntime) {
  Config a = resolve_config({});
  ConfigSources s;
  s.overrides = {"runtime.num_workers=3", "runtime.output_dir=/tmp/x", "runtime.threads=1"};
  Config b = resolve_config(s);
  EXPECT_EQ(a.canonical(), b.canonical());
  EXPECT_EQ(a.run_id(), b.run_id());
  EXPECT_EQ(a.run_id(), sha1_hex(a.canonical()).substr(0, 8));
  EXPECT_EQ(a.canonical().find("runtime"), std::string::npos);
  s.overrides = {"training.lr=0.006"};
  EXPECT_NE(resolve_config(s).run_id(), a.run_id());
}

TEST(Config, FloatKeysNormaliseIntegers) {
  ConfigSources s;
  s.overrides = {"training.lr=1"};
  Config a = resolve_config(s);
  s.overrides = {"training.lr=1.0"};
  EXPECT_EQ(a.canonical(), resolve_config(s).canonical());
  EXPECT_NE(a.canonical().find("\"lr\":1.0"), std::string::npos);
}

TEST(Config, SeedFullRange) {
  ConfigSources s;
  s.seed = "18446744073709551615";
  EXPECT_EQ(resolve_config(s).seed, 18446744073709551615ULL);
  s.seed = "18446744073709551616";
  EXPECT_NE(error_of(s).find("--seed"), std::string::npos);
  s.seed = "-1";
  EXPECT_NE(error_of(s).find("--seed"), std::string::npos);
}

TEST(Config, UnknownKeySuggestsClosest) {
  ConfigSources s;
  s.overrides = {"training.lrr=0.1"};
  EXPECT_NE(error_of(s).find("did you mean 'training.lr'"), std::string::npos);
  s.overrides = {"model.num_workers=2"};
  EXPECT_NE(error_of(s).find("runtime.num_workers"), std::string::npos);
}

TEST(Config, FileErrorsNameFileAndLine) {
  std::string f = write_temp("bad.yaml", "seed: 1\ntraining:\n  lr: fast\n");
  ConfigSources s;
  s.file = f;
  std::string e = error_of(s);
  EXPECT_NE(e.find(f + ":3"), std::string::npos) << e;
  EXPECT_NE(e.find("training.lr"), std::string::npos) << e;
}

TEST(Config, ApplyOverrideKeepsValidation) {
  Config c = resolve_config({});
  apply_override(&c, "runtime.num_workers=4");
  EXPECT_EQ(c.runtime.num_workers, 4);
  EXPECT_THROW(apply_override(&c, "runtime.num_workers=-1"), Error);
}

TEST(Config, SavedConfigRoundTrips) {
  ConfigSources s;
  s.overrides = {"training.lr=3e-4", "model.arch=transformer", "data.test_path=null"};
  Config a = resolve_config(s);
  Config b = config_from_json(nlohmann::json::parse(a.canonical()), "config.json");
  EXPECT_EQ(a.canonical(), b.canonical());
  EXPECT_TRUE(b.data.test_path.empty());
}

TEST(Config, DuplicateYamlKeysAreErrors) {
  std::string f = write_temp("dup.yaml", "seed: 1\ntraining:\n  lr: 0.1\n  lr: 0.2\n");
  ConfigSources s;
  s.file = f;
  std::string e = error_of(s);
  EXPECT_NE(e.find(f + ":4: duplicate key 'training.lr'"), std::string::npos) << e;
  f = write_temp("dup2.yaml", "model: {arch: cnn}\nmodel: {arch: bow}\n");
  s.file = f;
  EXPECT_NE(error_of(s).find("duplicate key 'model'"), std::string::npos);
}

// The table is the one place a key is declared: every key has a doc, its
// default is what a default Config holds, and JSON, YAML and the table agree.
TEST(ConfigTable, DrivesDefaultsJsonAndYaml) {
  const Config defaults;
  const nlohmann::json j = defaults.to_json();
  const std::string yaml = defaults.to_yaml();
  ASSERT_EQ(config_table().size(), config_keys().size());
  for (const ConfigKey& k : config_table()) {
    SCOPED_TRACE(k.name);
    EXPECT_FALSE(k.doc.empty());
    const auto dot = k.name.find('.');
    const nlohmann::json v = dot == std::string::npos
                                 ? j.at(k.name)
                                 : j.at(k.name.substr(0, dot)).at(k.name.substr(dot + 1));
    EXPECT_EQ(v, k.default_value);
    EXPECT_EQ(k.runtime, k.name.rfind("runtime.", 0) == 0);
    const std::string leaf = dot == std::string::npos ? k.name : k.name.substr(dot + 1);
    EXPECT_NE(yaml.find(leaf + ":"), std::string::npos);
    if (k.kind == ConfigKind::kChoice) {
      EXPECT_NE(std::find(k.choices.begin(), k.choices.end(), v.get<std::string>()),
                k.choices.end());
    }
    if (k.kind == ConfigKind::kInt || k.kind == ConfigKind::kFloat) {
      EXPECT_GE(v.get<double>(), k.min);
      EXPECT_LE(v.get<double>(), k.max);
    }
  }
  // Every key can be set by an override and comes back in the JSON.
  Config base = defaults;
  apply_override(&base, "tokenizer.kind=sentencepiece");  // so that its keys may be set
  apply_override(&base, "tokenizer.ngrams=2");
  apply_override(&base, "training.grad_shards=2");  // so that runtime.nproc may be 2
  for (const ConfigKey& k : config_table()) {
    if (k.kind != ConfigKind::kInt) continue;
    Config c = base;
    const long long want = static_cast<long long>(k.min) + 1;
    apply_override(&c, k.name + "=" + std::to_string(want));
    const auto dot = k.name.find('.');
    EXPECT_EQ(c.to_json().at(k.name.substr(0, dot)).at(k.name.substr(dot + 1)), want) << k.name;
  }
}

TEST(ConfigTable, JsonSchemaDescribesEveryKey) {
  const nlohmann::json schema(config_json_schema());
  EXPECT_EQ(schema["additionalProperties"], false);
  for (const ConfigKey& k : config_table()) {
    SCOPED_TRACE(k.name);
    const auto dot = k.name.find('.');
    const nlohmann::json& p =
        dot == std::string::npos
            ? schema["properties"][k.name]
            : schema["properties"][k.name.substr(0, dot)]["properties"][k.name.substr(dot + 1)];
    ASSERT_TRUE(p.is_object());
    EXPECT_EQ(p["default"], k.default_value);
    EXPECT_EQ(p["description"], k.doc);
  }
  const auto& lr = schema["properties"]["training"]["properties"]["lr"];
  EXPECT_EQ(lr["type"], "number");
  EXPECT_EQ(lr["minimum"], 0.0);
  EXPECT_EQ(lr["maximum"], 100.0);
  const auto& arch = schema["properties"]["model"]["properties"]["arch"];
  EXPECT_EQ(arch["enum"], nlohmann::json({"bow", "cnn", "transformer"}));
  const auto& clip = schema["properties"]["training"]["properties"]["grad_clip"];
  EXPECT_FALSE(clip.contains("maximum"));  // unbounded
  EXPECT_EQ(schema["properties"]["data"]["properties"]["test_path"]["type"],
            nlohmann::json({"string", "null"}));
}

// Keys added after the identity format was fixed are in the canonical JSON
// only when set, so an existing config keeps its run id.
TEST(ConfigIdentity, NewKeysCountOnlyWhenSet) {
  const Config defaults;
  EXPECT_EQ(defaults.run_id(), "d7e86c8f");  // the default config's id since 0.1
  EXPECT_EQ(defaults.canonical().find("hash_buckets"), std::string::npos);
  EXPECT_EQ(defaults.canonical().find("sp_type"), std::string::npos);
  Config c = defaults;
  apply_override(&c, "tokenizer.kind=sentencepiece");
  EXPECT_EQ(c.canonical().find("vocab_size"), std::string::npos);  // at its default
  const std::string id = c.run_id();
  apply_override(&c, "tokenizer.vocab_size=4000");
  EXPECT_NE(c.canonical().find("\"vocab_size\":4000"), std::string::npos);
  EXPECT_NE(c.run_id(), id);
  // The saved identity reads back to the same config.
  const Config back = config_from_json(nlohmann::json::parse(c.canonical()), "config.json");
  EXPECT_EQ(back.canonical(), c.canonical());
  EXPECT_EQ(back.tokenizer.vocab_size, 4000);
}

TEST(ConfigIdentity, TokenizerKeysThatDoNotFitAreErrors) {
  auto err = [](std::vector<std::string> overrides) {
    ConfigSources s;
    s.overrides = std::move(overrides);
    return error_of(s);
  };
  EXPECT_NE(err({"tokenizer.vocab_size=100"}).find("apply to tokenizer.kind=sentencepiece"),
            std::string::npos);
  EXPECT_NE(err({"tokenizer.hash_buckets=10"}).find("needs tokenizer.ngrams >= 2"),
            std::string::npos);
  EXPECT_NE(err({"tokenizer.kind=sentencepiece", "tokenizer.sp_model=m.model",
                 "tokenizer.vocab_size=100"})
                .find("drop tokenizer.sp_type and tokenizer.vocab_size"),
            std::string::npos);
  EXPECT_NE(err({"tokenizer.kind=char", "tokenizer.ngrams=3", "model.arch=cnn"})
                .find("need model.arch=bow"),
            std::string::npos);
  EXPECT_EQ(err({"tokenizer.kind=char", "tokenizer.ngrams=4", "tokenizer.hash_buckets=1000"}), "");
}

// Gradient shards: part of the identity when set (K = 1 is the identity
// without the key); the number of ranks is not; each rank computes whole
// shards of whole examples.
TEST(ConfigIdentity, GradShardsCountRanksDoNot) {
  const Config defaults;
  Config one = defaults, two = defaults;
  apply_override(&one, "training.grad_shards=1");
  apply_override(&two, "training.grad_shards=2");
  EXPECT_EQ(one.run_id(), defaults.run_id());
  EXPECT_NE(two.run_id(), defaults.run_id());
  Config ranks = two;
  apply_override(&ranks, "runtime.nproc=2");
  EXPECT_EQ(ranks.run_id(), two.run_id());
  auto err = [](std::vector<std::string> overrides) {
    ConfigSources s;
    s.overrides = std::move(overrides);
    return error_of(s);
  };
  EXPECT_NE(err({"runtime.nproc=3", "training.grad_shards=2"}).find("key 'runtime.nproc'"),
            std::string::npos);
  EXPECT_NE(
      err({"training.batch_size=4", "training.grad_shards=5"}).find("key 'training.grad_shards'"),
      std::string::npos);
  EXPECT_EQ(err({"runtime.nproc=3", "training.grad_shards=7"}), "");
}

TEST(ParseKeyValues, OneParserForEveryKeyValueList) {
  const Config base;
  KeyValues kv = parse_key_values("training.lr=0.1,2e-3", "--grid", base);
  EXPECT_EQ(kv.key, "training.lr");
  EXPECT_EQ(kv.values, (std::vector<std::string>{"0.1", "2e-3"}));
  auto err = [&](const std::string& spec) {
    try {
      parse_key_values(spec, "--grid", base);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(err("seed=1,").find("--grid 'seed=1,': empty value at position 2"), std::string::npos);
  EXPECT_NE(err("seed=,1").find("empty value at position 1"), std::string::npos);
  EXPECT_NE(err("seed=").find("no values"), std::string::npos);
  EXPECT_NE(err("=1,2").find("expected KEY=V1,V2"), std::string::npos);
  EXPECT_NE(err("seed").find("expected KEY=V1,V2"), std::string::npos);
  EXPECT_NE(err("seed=1,x").find("key 'seed'"), std::string::npos);
  EXPECT_NE(err("training.lrr=1").find("did you mean 'training.lr'"), std::string::npos);
}

// A loop's own config on the same machinery: declared once; files,
// overrides, validation with suggestions, identity without runtime.*, help.
ConfigSpec loop_spec() {
  ConfigSpec spec;
  spec.integer("model.hidden", 32, 1, 4096, "hidden units")
      .number("training.lr", 0.05, 0, 10, "learning rate")
      .choice("training.opt", "sgd", {"sgd", "adam"}, "optimizer")
      .boolean("model.bias", true, "bias in the layers")
      .optional_text("data.path", "", "a file, or null")
      .run_keys();
  return spec;
}

std::string spec_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    return e.what();
  }
  return "";
}

TEST(ConfigSpec, ResolvesFilesOverridesAndCommandLines) {
  const ConfigSpec spec = loop_spec();
  const std::string file = write_temp("loop.yaml", "model:\n  hidden: 64\ntraining: {lr: 0.5}\n");
  ConfigSources src;
  src.file = file;
  src.seed = "7";
  src.overrides = {"training.lr=1e-3", "runtime.threads=2"};
  const Settings s = spec.resolve(src);
  EXPECT_EQ(s.integer("model.hidden"), 64);
  EXPECT_EQ(s.number("training.lr"), 1e-3);
  EXPECT_EQ(s.seed(), 7u);
  EXPECT_FALSE(s.deterministic());
  EXPECT_EQ(s.text("training.opt"), "sgd");
  EXPECT_TRUE(s.json()["data"]["path"].is_null());
  EXPECT_EQ(s.integer("runtime.threads"), 2);
  EXPECT_EQ(s.integer("runtime.nproc"), 1);

  const CommandLine cl = spec.parse(
      {"runs/x", "model.hidden=8", "--seed", "3", "--deterministic", "-c", file, "/tmp/a=b"});
  EXPECT_EQ(cl.positional, (std::vector<std::string>{"runs/x", "/tmp/a=b"}));
  EXPECT_EQ(cl.settings.integer("model.hidden"), 8);  // overrides win over the file
  EXPECT_EQ(cl.settings.number("training.lr"), 0.5);
  EXPECT_TRUE(cl.settings.deterministic());
  EXPECT_TRUE(spec.parse({"--help"}).help);
}

TEST(ConfigSpec, IdentityLeavesRuntimeOutAndIsCanonical) {
  const ConfigSpec spec = loop_spec();
  const Settings a = spec.parse({"runtime.nproc=2", "runtime.output_dir=elsewhere"}).settings;
  const Settings b = spec.parse({}).settings;
  EXPECT_FALSE(a.identity().contains("runtime"));
  EXPECT_EQ(a.canonical(), b.canonical());
  EXPECT_EQ(a.run_id(), b.run_id());
  EXPECT_EQ(a.run_id(), sha1_hex(a.canonical()).substr(0, 8));
  EXPECT_NE(spec.parse({"training.lr=0.1"}).settings.run_id(), b.run_id());
  // Canonical: the same bytes as Python's json.dumps(sort_keys=True, separators=(",", ":")).
  EXPECT_EQ(b.canonical(),
            "{\"data\":{\"path\":null},\"deterministic\":false,\"model\":{\"bias\":true,"
            "\"hidden\":32},\"seed\":42,\"training\":{\"lr\":0.05,\"opt\":\"sgd\"}}");
  EXPECT_NE(b.to_yaml().find("hidden: 32"), std::string::npos);
}

TEST(ConfigSpec, StrictValidationNamesTheKey) {
  const ConfigSpec spec = loop_spec();
  auto parse = [&](std::vector<std::string> args) { return [&spec, args] { spec.parse(args); }; };
  EXPECT_NE(spec_error(parse({"model.hiden=3"})).find("did you mean 'model.hidden'"),
            std::string::npos);
  EXPECT_NE(spec_error(parse({"training.lr=-1"})).find("key 'training.lr': -1.0 is out of range"),
            std::string::npos);
  EXPECT_NE(spec_error(parse({"model.hidden=1.5"})).find("key 'model.hidden': expected an integer"),
            std::string::npos);
  EXPECT_NE(spec_error(parse({"training.opt=lion"})).find("unknown choice \"lion\""),
            std::string::npos);
  EXPECT_NE(spec_error(parse({"--sed", "1"})).find("unknown option '--sed'"), std::string::npos);
  EXPECT_NE(spec_error(parse({"model=1"})).find("'model' is a section"), std::string::npos);
  const std::string bad = write_temp("bad.yaml", "model:\n  hidden: 2\n  widht: 3\n");
  EXPECT_NE(spec_error(parse({"-c", bad})).find("bad.yaml:3: unknown key 'model.widht'"),
            std::string::npos);
  // Declarations are checked too.
  EXPECT_NE(spec_error([] { ConfigSpec().integer("a", 5, 10, 20, ""); }).find("key 'a'"),
            std::string::npos);
  EXPECT_NE(spec_error([] { ConfigSpec().boolean("seed", true, ""); }).find("declared twice"),
            std::string::npos);
  EXPECT_NE(spec_error([] { ConfigSpec().boolean("a.b.c", true, ""); }).find("at most one"),
            std::string::npos);
  const Settings s = spec.parse({}).settings;
  EXPECT_NE(spec_error([&] { s.integer("model.hiden"); }).find("did you mean 'model.hidden'"),
            std::string::npos);
  EXPECT_NE(spec_error([&] { s.boolean("model.hidden"); }).find("not a bool"), std::string::npos);
}

TEST(ConfigSpec, HelpListsEveryKeyWithItsTypeRangeAndDefault) {
  const std::string h = loop_spec().help("my_loop [KEY=VALUE ...]");
  EXPECT_EQ(h.rfind("usage: my_loop [KEY=VALUE ...]", 0), 0u);
  for (const char* k : {"seed", "deterministic", "model.hidden", "training.lr", "training.opt",
                        "runtime.nproc", "runtime.output_dir"}) {
    EXPECT_NE(h.find(std::string("  ") + k + " "), std::string::npos) << k;
  }
  EXPECT_NE(h.find("an integer in [1, 4096], default 32"), std::string::npos);
  EXPECT_NE(h.find("one of sgd|adam, default sgd"), std::string::npos);
}

}  // namespace
}  // namespace mltrain
