#include <gtest/gtest.h>

#include "core/fs.h"
#include "fixtures.h"
#include "mltrain/experiment.h"
#include "mltrain/records.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

// A dump line: [[name, sha], ...] as the Run writes it.
json line(int step, const std::string& phase,
          const std::vector<std::pair<std::string, std::string>>& tensors) {
  json t = json::array();
  for (const auto& p : tensors) t.push_back(json::array({p.first, p.second}));
  return {{"step", step}, {"phase", phase}, {"tensors", t}};
}

TEST(FirstDumpDivergence, NamesTheFirstModuleInExecutionOrder) {
  const std::vector<json> a = {
      line(9, "input", {{"batch.tokens", "1"}}),
      line(9, "forward", {{"embed", "e"}, {"layers.0.self_attn", "s"}, {"fc", "f"}}),
      line(9, "grad", {{"fc.weight", "g"}})};
  std::vector<json> b = a;
  b[1]["tensors"][1][1] = "S";  // the attention output differs ...
  b[1]["tensors"][2][1] = "F";  // ... and so does everything after it
  b[2]["tensors"][0][1] = "G";
  const Localised l = first_dump_divergence(a, b);
  EXPECT_EQ(l.step, 9);
  EXPECT_EQ(l.phase, "forward");
  EXPECT_EQ(l.where, "layers.0.self_attn");
  EXPECT_EQ(l.text,
            "first divergence: step 9: first differs in layers.0.self_attn (forward output)");

  std::vector<json> c = a;
  c[2]["tensors"][0][1] = "G";
  const Localised g = first_dump_divergence(a, c);
  EXPECT_EQ(g.text, "first divergence: step 9, tensor fc.weight (grad) in module fc");
  EXPECT_EQ(first_dump_divergence(a, a).step, -1);
}

TEST(FirstDumpDivergence, AGradientFromDownstreamIsNotTheModulesOwnOutput) {
  const std::vector<json> a = {
      line(9, "forward", {{"embed", "e"}, {"layers.0.norm1", "n"}, {"layers.0.self_attn", "s"}}),
      line(9, "backward",
           {{"fc", "1"}, {"layers.0.self_attn", "2"}, {"layers.0.norm1", "3"}, {"embed", "4"}}),
      line(9, "grad", {{"layers.0.norm1.weight", "g"}})};
  std::vector<json> b = a;
  b[1]["tensors"][2][1] = "X";  // the gradient flowing into norm1 differs ...
  b[1]["tensors"][3][1] = "Y";  // ... and so does everything below it
  b[2]["tensors"][0][1] = "Z";
  const Localised l = first_dump_divergence(a, b);
  EXPECT_EQ(l.phase, "backward");
  EXPECT_EQ(l.where, "layers.0.norm1");
  EXPECT_EQ(l.upstream, "layers.0.self_attn");
  EXPECT_EQ(l.text,
            "first divergence: step 9: first differs in the gradient flowing into layers.0.norm1 "
            "from downstream (its forward output agreed)");
  // The first gradient of all (the one from the loss) has nothing upstream.
  std::vector<json> c = a;
  c[1]["tensors"][0][1] = "X";
  EXPECT_EQ(first_dump_divergence(a, c).upstream, "");
}

json empty_diff() {
  return {{"config", json::array()},
          {"data", json::array()},
          {"env", json::array()},
          {"runtime", json::array()}};
}

TEST(LikelyCause, AConfigKey) {
  json d = empty_diff();
  d["config"].push_back({{"key", "training.lr"}, {"a", 0.01}, {"b", 0.02}});
  d["env"].push_back({{"key", "blas.openblas_core"}, {"a", "Haswell"}, {"b", "Zen"}});
  const Cause c = likely_cause(d, {{"deterministic", true}}, "");
  EXPECT_EQ(c.kind, "config");
  EXPECT_EQ(c.text, "config key training.lr differs (0.01 vs 0.02)");
}

TEST(LikelyCause, ADataFile) {
  json d = empty_diff();
  d["data"].push_back({{"split", "train"},
                       {"a", {{"path", "data/train.jsonl"}, {"sha256", "aa"}}},
                       {"b", {{"path", "data/train.jsonl"}, {"sha256", "bb"}}}});
  const Cause c = likely_cause(d, json::object(), "");
  EXPECT_EQ(c.kind, "data");
  EXPECT_NE(c.text.find("data/train.jsonl"), std::string::npos);
}

TEST(LikelyCause, AnEnvironmentField) {
  json d = empty_diff();
  d["env"].push_back({{"key", "os.kernel"}, {"a", "6.1"}, {"b", "6.2"}});
  d["env"].push_back({{"key", "blas.openblas_core"}, {"a", "Haswell"}, {"b", "SkylakeX"}});
  Cause c = likely_cause(d, json::object(), "fc.weight");
  EXPECT_EQ(c.kind, "environment");
  EXPECT_EQ(c.text.find("BLAS core type differs (blas.openblas_core: Haswell vs SkylakeX)"), 0u)
      << c.text;
  EXPECT_NE(c.text.find("fc.weight: linear (matmul)"), std::string::npos);

  json t = empty_diff();
  t["runtime"].push_back({{"key", "num_workers"}, {"a", 0}, {"b", 2}});  // never a cause
  t["runtime"].push_back({{"key", "threads"}, {"a", 1}, {"b", 2}});
  c = likely_cause(t, json::object(), "layers.0.norm1.weight");
  EXPECT_EQ(c.kind, "environment");
  EXPECT_NE(c.text.find("thread count differs (runtime.threads 1 vs 2)"), std::string::npos);
  // A CPU run against a GPU run: the device is named before anything else.
  t["runtime"].push_back({{"key", "device"}, {"a", "cpu"}, {"b", "cuda:0"}});
  c = likely_cause(t, json::object(), "fc.weight");
  EXPECT_EQ(c.kind, "environment");
  EXPECT_EQ(c.text.find("device differs (runtime.device cpu vs cuda:0)"), 0u) << c.text;
  EXPECT_NE(c.text.find("fc.weight: linear (matmul)"), std::string::npos) << c.text;

  // The kernels a run computed with come before the CPU model and the
  // LibTorch build report that also differ with them.
  json k = empty_diff();
  k["env"].push_back({{"key", "cpu.model"}, {"a", "EPYC"}, {"b", "Xeon"}});
  k["env"].push_back({{"key", "kernels.aten_capability"}, {"a", "AVX2"}, {"b", "DEFAULT"}});
  k["env"].push_back({{"key", "libtorch.build_config"}, {"a", "..."}, {"b", "..."}});
  c = likely_cause(k, json::object(), "fc.weight");
  EXPECT_EQ(
      c.text.find("LibTorch CPU capability differs (kernels.aten_capability: AVX2 vs DEFAULT)"), 0u)
      << c.text;
  // runtime.cpu_capability is named when it chose the kernels, not when the
  // deterministic pin overrode it.
  json r = empty_diff();
  r["runtime"].push_back({{"key", "cpu_capability"}, {"a", "default"}, {"b", "avx2"}});
  c = likely_cause(r, {{"deterministic", false}}, "fc.weight");
  EXPECT_EQ(c.text.find("LibTorch CPU capability differs (runtime.cpu_capability default vs avx2)"),
            0u)
      << c.text;
  c = likely_cause(r, {{"deterministic", true}}, "fc.weight");
  EXPECT_EQ(c.text.find("LibTorch CPU capability"), std::string::npos) << c.text;

  json v = empty_diff();
  v["env"].push_back({{"key", "libtorch.version"}, {"a", "1.13.0"}, {"b", "2.1.0"}});
  EXPECT_NE(likely_cause(v, json::object(), "").text.find("LibTorch version"), std::string::npos);
}

TEST(LikelyCause, SameInputsDifferentBits) {
  json d = empty_diff();
  d["runtime"].push_back({{"key", "num_workers"}, {"a", 0}, {"b", 2}});
  Cause c = likely_cause(d, {{"deterministic", false}}, "layers.0.self_attn");
  EXPECT_EQ(c.kind, "none");
  EXPECT_EQ(c.text.find("same inputs, different bits"), 0u);
  EXPECT_NE(c.text.find("attention"), std::string::npos);
  EXPECT_NE(c.text.find("deterministic was off"), std::string::npos);
  c = likely_cause(d, {{"deterministic", true}}, "conv.weight");
  EXPECT_NE(c.text.find("convolution"), std::string::npos);
  EXPECT_NE(c.text.find("deterministic was on"), std::string::npos);
}

TEST(LikelyCause, AGradientFromDownstreamBlamesTheBackwardDownstreamNotTheModule) {
  Localised l;
  l.step = 9;
  l.phase = "backward";
  l.where = "layers.0.norm1";
  l.upstream = "layers.0.self_attn";
  Cause c = likely_cause(empty_diff(), {{"deterministic", true}}, l);
  EXPECT_EQ(c.kind, "none");
  EXPECT_EQ(c.text.find("same inputs, different bits: the gradient flowing into layers.0.norm1 "
                        "from downstream differs first; its own op's forward output agreed, so "
                        "look at the backward of what consumes its output (between "
                        "layers.0.self_attn, attention (matmul + softmax), whose incoming gradient "
                        "still agreed, and layers.0.norm1 in backward order)"),
            0u)
      << c.text;
  EXPECT_EQ(c.text.find("layer norm"), std::string::npos) << c.text;  // not norm1's own op
  EXPECT_NE(c.text.find("deterministic was on"), std::string::npos);
  l.upstream = "";
  c = likely_cause(empty_diff(), json::object(), l);
  EXPECT_NE(c.text.find("(it is the first gradient in backward order: the loss's backward)"),
            std::string::npos)
      << c.text;
  // With an environment difference, the where clause says the same.
  json t = empty_diff();
  t["runtime"].push_back({{"key", "threads"}, {"a", 1}, {"b", 2}});
  c = likely_cause(t, json::object(), l);
  EXPECT_EQ(c.text,
            "thread count differs (runtime.threads 1 vs 2); the gradient flowing into "
            "layers.0.norm1 from downstream differs first (its forward output agreed)");
  // A forward output keeps naming the module's own op.
  l.phase = "forward";
  EXPECT_NE(likely_cause(empty_diff(), json::object(), l).text.find("layers.0.norm1 is layer norm"),
            std::string::npos);
  EXPECT_EQ(where_clause(l), "; first differs in layers.0.norm1: layer norm (a reduction)");
}

TEST(VerificationStatus, FromTheRecordsVerifyLeft) {
  const std::string dir = fixtures::temp_dir();
  fixtures::FakeRun f = fixtures::completed_run(4, "x");
  const std::string run_dir = fixtures::write_run(dir, f);
  EXPECT_EQ(verification_status(load_run(run_dir))["text"], "never verified");
  const std::string sha = f.summary["state_sha256"];
  record_verification(run_dir, "verify-1",
                      {{"when", "2026-01-01T00:00:00Z"},
                       {"identical", true},
                       {"runs", 3},
                       {"resume_checked", false},
                       {"reference_state_sha256", sha}});
  EXPECT_EQ(verification_status(load_run(run_dir))["text"], "verified 3\u00d7");
  record_verification(run_dir, "verify-2",
                      {{"when", "2026-01-02T00:00:00Z"},
                       {"identical", true},
                       {"runs", 2},
                       {"resume_checked", true},
                       {"reference_state_sha256", sha}});
  json s = verification_status(load_run(run_dir));
  EXPECT_EQ(s["text"], "verified 5\u00d7, resume-checked");
  EXPECT_EQ(s["verified"], 5);
  // Reproducing another hash (another machine) is not verifying this run.
  const std::string other = fixtures::write_run(dir, f, "other");
  record_verification(other, "verify-1",
                      {{"when", "2026-01-01T00:00:00Z"},
                       {"identical", true},
                       {"runs", 3},
                       {"reference_state_sha256", std::string(64, '0')}});
  EXPECT_EQ(verification_status(load_run(other))["verified"], 0);
  // The latest verification failing wins.
  record_verification(run_dir, "verify-3",
                      {{"when", "2026-01-03T00:00:00Z"},
                       {"identical", false},
                       {"runs", 2},
                       {"divergence", {{"step", 9}, {"text", "x"}}}});
  s = verification_status(load_run(run_dir));
  EXPECT_EQ(s["text"], "diverged at step 9");
  EXPECT_EQ(s["diverged_step"], 9);
}

TEST(OpKind, FromModuleAndTensorNames) {
  EXPECT_EQ(op_kind("layers.1.self_attn"), "attention (matmul + softmax)");
  EXPECT_EQ(op_kind("layers.0.norm2.bias"), "layer norm (a reduction)");
  EXPECT_EQ(op_kind("embed.weight"), "embedding (bag) gradient accumulation");
  EXPECT_EQ(op_kind("fc2"), "linear (matmul)");
  EXPECT_EQ(op_kind("something"), "");
}

}  // namespace
}  // namespace mltrain
