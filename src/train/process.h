// Internal: running ml-train child processes.
#ifndef MLTRAIN_SRC_TRAIN_PROCESS_H_
#define MLTRAIN_SRC_TRAIN_PROCESS_H_

#include <string>
#include <vector>

namespace mltrain {

struct ChildResult {
  int exit_code = -1;     // when it exited
  bool killed = false;    // we SIGKILLed it (kill_when_stopped)
  int signal = 0;         // signal that ended it, if any
};

// Runs argv[0] with argv, the current environment plus `env` ("K=V"), and
// stdout+stderr appended to log_path. With kill_when_stopped, a child that
// stops itself (SIGSTOP, see MLTRAIN_STOP_AT) is killed with SIGKILL on the
// spot: a real hard kill at an exact training step.
ChildResult run_child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      const std::string& log_path, bool kill_when_stopped = false);

// Runs every command (argv, env, log path) with at most `jobs` at a time and
// returns their results in the order given.
struct ChildSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string log_path;
};
std::vector<ChildResult> run_children(const std::vector<ChildSpec>& specs, int jobs);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_PROCESS_H_
