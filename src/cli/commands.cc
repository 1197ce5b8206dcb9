#include "cli/commands.h"

#include <iostream>

#include "mltrain/env.h"
#include "mltrain/error.h"
#include "mltrain/infer.h"
#include "mltrain/kernels.h"
#include "mltrain/ranks.h"
#include "mltrain/train.h"

namespace mltrain {
namespace cli {

int cmd_train(const TrainArgs& a, const std::vector<std::string>& argv) {
  Config cfg = resolve_config(a.sources);
  // The CPU kernels before the ranks start (they inherit the pin) and before
  // anything is read or written: the pin may re-execute this process.
  pin_cpu_kernels(cfg.deterministic, cfg.runtime.cpu_capability);
  // runtime.nproc > 1: this command line again, once per rank.
  if (int rc = launch_ranks_if_needed(argv, cfg.runtime.nproc); rc >= 0) return rc;
  TrainOptions opt;
  opt.command_line = argv;
  opt.rerun = a.rerun;
  opt.wait = a.wait;
  opt.run_dir = a.run_dir;
  opt.out = &std::cout;
  opt.log = &std::cerr;
  RunResult r = train(cfg, opt);
  if (a.rerun && !r.original_state_hash.empty() && !r.rerun_matches) return 1;
  return 0;
}

int cmd_config(const ConfigSources& s, bool json, bool schema) {
  if (schema) {
    std::cout << config_json_schema().dump(2) << "\n";
    return 0;
  }
  Config cfg = resolve_config(s);
  if (json) {
    nlohmann::json j = {{"run_id", cfg.run_id()},
                        {"canonical", cfg.canonical()},
                        {"identity", cfg.identity_json()},
                        {"config", cfg.to_json()}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "# resolved config\n"
            << cfg.to_yaml() << "\n# canonical JSON (hashed; runtime excluded)\n"
            << cfg.canonical() << "\n\nrun_id: " << cfg.run_id() << "\n";
  return 0;
}

int cmd_predict(const PredictArgs& a) {
  const Predictor predictor(a.run_dir);
  PredictOptions o;
  o.format = a.format;
  o.top_k = a.top_k;
  o.skip_bad = a.skip_bad;
  o.threads = a.threads;
  predict_file(predictor, a.file, o, std::cout, &std::cerr);
  return 0;
}

int cmd_evaluate(const EvaluateArgs& a) {
  EvaluateOptions o;
  o.format = a.format;
  o.name = a.name;
  o.threads = a.threads;
  const nlohmann::json record = evaluate_file(a.run_dir, a.file, o);
  std::cout << (a.json ? record.dump(2) + "\n" : format_evaluation(record));
  return 0;
}

int cmd_env() {
  std::cout << environment_manifest().dump(2) << "\n";
  return 0;
}

}  // namespace cli
}  // namespace mltrain
