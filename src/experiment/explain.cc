// Explaining differences: where two runs first differ inside a step (tensor
// dumps, module outputs), what the likely cause is (config, data,
// environment, or same inputs and different bits), and what verify found for
// a run.
#include <algorithm>
#include <map>
#include <string>

#include "mltrain/experiment.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// A module or tensor name (dumps say "?" when they cannot).
bool named(const std::string& where) { return !where.empty() && where != "?"; }

// Environment fields that change bits, in the order they are named, with
// what to call them. Fields not listed (kernel, pid, host) are reported only
// when nothing else differs.
const std::vector<std::pair<std::string, std::string>>& env_fields() {
  static const std::vector<std::pair<std::string, std::string>> kFields = {
      // The kernels a run computed with (kernels.h): pinned in deterministic
      // mode, so these differ only when a run was not.
      {"kernels.pinned", "kernel pin"},
      {"kernels.openblas_core", "BLAS core type"},
      {"kernels.aten_capability", "LibTorch CPU capability"},
      {"kernels.onednn", "oneDNN kernels"},
      {"blas.openblas_core", "BLAS core type"},
      {"blas.loaded", "BLAS library"},
      {"blas.openblas_config", "BLAS library"},
      {"threads.intra_op", "thread count"},
      {"threads.inter_op", "thread count"},
      {"libtorch.version", "LibTorch version"},
      {"libtorch.build_config", "LibTorch build"},
      {"cpu.simd", "CPU flags"},
      {"cpu.model", "CPU model"},
      {"compiler", "compiler"},
      {"cxx_stdlib", "C++ standard library"},
      {"ml_train.version", "ml-train version"},
      {"ml_train.revision", "ml-train revision"},
      {"os.glibc", "glibc version"},
      {"cuda", "CUDA"},
  };
  return kFields;
}

}  // namespace

// "; first differs in layers.0.norm1.weight: layer norm (a reduction)".
std::string where_clause(const std::string& where) {
  if (!named(where)) return "";
  const std::string kind = op_kind(where);
  return "; first differs in " + where + (kind.empty() ? "" : ": " + kind);
}

std::string where_clause(const Localised& l) {
  if (l.phase != "backward" || !named(l.where)) return where_clause(l.where);
  // Not the module's op: its forward output agreed, the gradient coming
  // back into it did not.
  return "; the gradient flowing into " + l.where +
         " from downstream differs first (its forward output agreed)";
}

Localised first_dump_divergence(const std::vector<json>& a, const std::vector<json>& b) {
  static const std::map<std::string, std::string> kPhase = {{"input", "input batch"},
                                                            {"param", "param"},
                                                            {"grad", "grad"},
                                                            {"optimizer", "optimizer state"},
                                                            {"forward", "forward output"},
                                                            {"backward", "gradient of its output"}};
  Localised l;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const json& x = a[i];
    const json& y = b[i];
    if (x == y) continue;
    const json tx = x.is_object() ? x.value("tensors", json::array()) : json::array();
    const json ty = y.is_object() ? y.value("tensors", json::array()) : json::array();
    std::string where = "?", upstream;
    for (std::size_t k = 0; k < std::max(tx.size(), ty.size()); ++k) {
      if (k >= tx.size() || k >= ty.size() || tx[k] != ty[k]) {
        const json& t = k < tx.size() ? tx[k] : ty[k];
        where = t.is_array() && !t.empty() ? str(t[0]) : "?";
        if (k > 0 && tx[k - 1].is_array() && !tx[k - 1].empty()) upstream = str(tx[k - 1][0]);
        break;
      }
    }
    l.phase = x.is_object() ? x.value("phase", "") : "";
    const json step = x.is_object() ? x.value("step", json(0)) : json(0);
    l.step = step.is_number_integer() ? step.get<std::int64_t>() : 0;
    l.where = where;
    auto it = kPhase.find(l.phase);
    std::string what = it == kPhase.end() ? l.phase : it->second;
    if (l.step == 0 && l.phase == "param") what = "initial weights";
    if (l.phase == "backward") {
      // Every forward output of this step agreed (their line came first).
      l.upstream = upstream;
      l.text = "first divergence: step " + std::to_string(l.step) +
               ": first differs in the gradient flowing into " + where +
               " from downstream (its forward output agreed)";
    } else if (l.phase == "forward") {
      l.text = "first divergence: step " + std::to_string(l.step) + ": first differs in " + where +
               " (" + what + ")";
    } else {
      l.text = "first divergence: step " + std::to_string(l.step) + ", tensor " + where + " (" +
               what + ")";
      // "layers.0.norm1.weight" belongs to module "layers.0.norm1".
      const auto dot = where.rfind('.');
      if ((l.phase == "param" || l.phase == "grad") && dot != std::string::npos && dot > 0) {
        l.text += " in module " + where.substr(0, dot);
      }
    }
    return l;
  }
  return l;
}

std::string op_kind(const std::string& name) {
  static const std::vector<std::pair<const char*, const char*>> kKinds = {
      {"attn", "attention (matmul + softmax)"},
      {"attention", "attention (matmul + softmax)"},
      {"norm", "layer norm (a reduction)"},
      {"ln", "layer norm (a reduction)"},
      {"conv", "convolution"},
      {"embed", "embedding (bag) gradient accumulation"},
      {"ff", "feed-forward (matmul)"},
      {"mlp", "feed-forward (matmul)"},
      {"fc", "linear (matmul)"},
      {"linear", "linear (matmul)"},
      {"proj", "linear (matmul)"},
      {"head", "linear (matmul)"},
      {"pool", "pooling"},
      {"loss", "loss reduction"},
      {"batch.", "data loading"},
  };
  for (const auto& k : kKinds) {
    if (contains(name, k.first)) return k.second;
  }
  return "";
}

Cause likely_cause(const json& diff, const json& config, const std::string& where) {
  Localised l;
  l.where = where;
  return likely_cause(diff, config, l);
}

Cause likely_cause(const json& diff, const json& config, const Localised& l) {
  const std::string& where = l.where;
  const json cfg_rows = diff.value("config", json::array());
  if (!cfg_rows.empty()) {
    const json& r = cfg_rows[0];
    std::string text = "config key " + str(r.value("key", json(""))) + " differs (" +
                       str(r.value("a", json(nullptr))) + " vs " +
                       str(r.value("b", json(nullptr))) + ")";
    if (cfg_rows.size() > 1) {
      text += " and " + std::to_string(cfg_rows.size() - 1) + " more key" +
              (cfg_rows.size() > 2 ? "s" : "");
    }
    return {"config", text};
  }
  const json data_rows = diff.value("data", json::array());
  if (!data_rows.empty()) {
    const json& r = data_rows[0];
    const json pa = r.value("a", json(nullptr)), pb = r.value("b", json(nullptr));
    std::string file = pa.is_object()   ? str(pa.value("path", json("?")))
                       : pb.is_object() ? str(pb.value("path", json("?")))
                                        : str(r.value("split", json("?")));
    return {"data", "data file " + file + " (" + str(r.value("split", json("?"))) +
                        ") has a different fingerprint"};
  }
  // Runtime keys that change bits. num_workers, trace_every, output_dir and
  // the like never do (guaranteed), so they are not causes.
  // Deterministic runs compute with the pinned capability whatever
  // runtime.cpu_capability says, so it is a cause only when they do not.
  const bool pinned = config.is_object() && config.value("deterministic", json(false)) == true;
  struct RuntimeCause {
    const char* key;
    const char* name;
    const char* why;
  };
  static const RuntimeCause kRuntimeCauses[] = {
      {"device", "device", ": a GPU's kernels add in another order than the CPU's"},
      {"cpu_capability", "LibTorch CPU capability",
       ": its vectorised kernels add in another order"},
      {"threads", "thread count", ""},
  };
  for (const RuntimeCause& c : kRuntimeCauses) {
    if (pinned && std::string(c.key) == "cpu_capability") continue;
    for (const json& r : diff.value("runtime", json::array())) {
      if (str(r.value("key", json(""))) != c.key) continue;
      return {"environment", std::string(c.name) + " differs (runtime." + c.key + " " +
                                 str(r.value("a", json(nullptr))) + " vs " +
                                 str(r.value("b", json(nullptr))) + ")" + c.why + where_clause(l)};
    }
  }
  const json env_rows = diff.value("env", json::array());
  for (const auto& f : env_fields()) {
    for (const json& r : env_rows) {
      const std::string key = str(r.value("key", json("")));
      if (key == f.first || key.rfind(f.first + ".", 0) == 0) {
        std::string a = str(r.value("a", json(nullptr))), b = str(r.value("b", json(nullptr)));
        std::string text = f.second + " differs (" + key;
        if (a.size() <= 40 && b.size() <= 40) text += ": " + a + " vs " + b;
        return {"environment", text + ")" + where_clause(l)};
      }
    }
  }
  for (const json& r : env_rows) {
    const std::string key = str(r.value("key", json("")));
    if (key.rfind("env_vars.", 0) == 0) {
      return {"environment", "environment variable " + key.substr(9) + " differs"};
    }
  }
  std::string text = "same inputs, different bits";
  if (l.phase == "backward" && named(where)) {
    // The module's own op computed the same output; what differs is the
    // gradient its consumers sent back, so their backward is the place.
    text += ": the gradient flowing into " + where +
            " from downstream differs first; its own op's forward output agreed, so look at the "
            "backward of what consumes its output";
    if (named(l.upstream)) {
      const std::string kind = op_kind(l.upstream);
      text += " (between " + l.upstream + (kind.empty() ? "" : ", " + kind) +
              ", whose incoming gradient still agreed, and " + where + " in backward order)";
    } else {
      text += " (it is the first gradient in backward order: the loss's backward)";
    }
  } else if (named(where)) {
    const std::string kind = op_kind(where);
    text += ": " + where + (kind.empty() ? "" : " is " + kind);
  }
  const json det = config.is_object() && config.contains("deterministic") ? config["deterministic"]
                                                                          : json(nullptr);
  if (det.is_boolean()) {
    text += det.get<bool>()
                ? "; deterministic was on, so an op without a deterministic kernel or a "
                  "thread-dependent reduction is the suspect"
                : "; deterministic was off (nondeterministic kernels allowed): rerun with "
                  "--deterministic";
  }
  return {"none", text};
}

json recorded_perturbation(const RunRecord& run) {
  const json attempts = json_at(run.run, "attempts");
  if (!attempts.is_array()) return nullptr;
  for (const json& a : attempts) {
    const json p = json_at(a, "control.perturb");
    if (p.is_object()) return p;
  }
  return nullptr;
}

json verification_status(const RunRecord& run) {
  json out = {{"text", "never verified"},
              {"verified", 0},
              {"resume_checked", false},
              {"diverged_step", nullptr}};
  if (!run.verifications.is_object() || run.verifications.empty()) return out;
  std::vector<json> records;
  for (auto it = run.verifications.begin(); it != run.verifications.end(); ++it) {
    if (it.value().is_object()) records.push_back(it.value());
  }
  std::sort(records.begin(), records.end(), [](const json& x, const json& y) {
    return str(x.value("when", json(""))) < str(y.value("when", json("")));
  });
  if (records.empty()) return out;
  const json& last = records.back();
  if (!last.value("identical", false)) {
    const json d = last.value("divergence", json(nullptr));
    const json step = d.is_object() ? d.value("step", json(nullptr)) : json(nullptr);
    out["diverged_step"] = step;
    out["text"] = step.is_number_integer()
                      ? "diverged at step " + std::to_string(step.get<std::int64_t>())
                      : std::string("diverged");
    return out;
  }
  std::int64_t verified = 0;
  bool resume = false, elsewhere = false;
  const std::string mine = run.state_sha256();
  for (const json& r : records) {
    if (!r.value("identical", false)) continue;
    if (!mine.empty() && str(r.value("reference_state_sha256", json(""))) == mine) {
      const json n = r.value("runs", json(0));
      verified += n.is_number_integer() ? n.get<std::int64_t>() : 0;
      resume = resume || r.value("resume_checked", false);
    } else {
      elsewhere = true;
    }
  }
  out["verified"] = verified;
  out["resume_checked"] = resume;
  if (verified > 0) {
    out["text"] =
        "verified " + std::to_string(verified) + "\u00d7" + (resume ? ", resume-checked" : "");
  } else if (elsewhere) {
    out["text"] = mine.empty() ? "verified (this run is not completed)"
                               : "verify reproduced a different state hash";
  }
  return out;
}

}  // namespace mltrain
