#include "mltrain/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "mltrain/error.h"
#include "mltrain/hash.h"

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

}  // namespace
}  // namespace mltrain
