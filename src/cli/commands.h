// The ml-train subcommands. Each parses nothing itself: main.cc hands it the
// parsed values, and it calls the library. Each returns the process exit
// code; library errors propagate as mltrain::Error to main.
#ifndef MLTRAIN_SRC_CLI_COMMANDS_H_
#define MLTRAIN_SRC_CLI_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "mltrain/config.h"

namespace mltrain {
namespace cli {

struct TrainArgs {
  ConfigSources sources;
  bool rerun = false;
  bool wait = false;
  std::string run_dir;  // train into this directory
};

struct VerifyArgs {
  ConfigSources sources;
  int repeats = 3;
  std::vector<std::string> vary;  // KEY=V1,V2,...
  std::int64_t interrupt_at = 0;
  std::string perturb;  // self-test: STEP:TENSOR
  std::string output_dir;
  bool has_command = false;          // `-- COMMAND ARGS...` was given
  std::vector<std::string> command;  // COMMAND ARGS...
  bool json = false;
};

struct SweepArgs {
  ConfigSources sources;
  std::vector<std::string> grid;  // KEY=V1,V2,...
  int jobs = 1;
  bool json = false;
  std::string launcher = "local";
  bool dry_run = false;
  std::vector<std::string> sbatch_args;
};

struct PredictArgs {
  std::string run_dir, file = "-", format = "auto";
  int top_k = 0;
  bool skip_bad = false;
  int threads = 0;
};

struct EvaluateArgs {
  std::string run_dir, file, name, format = "auto";
  int threads = 0;
  bool json = false;
};

int cmd_predict(const PredictArgs& a);
int cmd_evaluate(const EvaluateArgs& a);
int cmd_report(const std::vector<std::string>& dirs, const std::string& output);
// format: "text", "json" or "csv"; metrics: the text table's first metric
// columns (the sort metric when empty).
int cmd_runs(const ConfigSources& s, const std::vector<std::string>& where,
             const std::string& sort_by, const std::vector<std::string>& metrics,
             const std::string& format);
int cmd_sweep(const SweepArgs& a, const std::string& self_exe);
// `argv`: this command line (recorded in run.json; with runtime.nproc > 1 the
// library starts it once per rank).
int cmd_train(const TrainArgs& a, const std::vector<std::string>& argv);
int cmd_config(const ConfigSources& s, bool json, bool schema);
int cmd_env();
int cmd_verify(const VerifyArgs& a, const std::string& self_exe);
int cmd_reproduce(const std::string& run_dir, bool allow_data_change, const std::string& self_exe);
int cmd_diff(const std::string& a, const std::string& b, bool json, bool rerun,
             const std::string& self_exe);

}  // namespace cli
}  // namespace mltrain

#endif  // MLTRAIN_SRC_CLI_COMMANDS_H_
