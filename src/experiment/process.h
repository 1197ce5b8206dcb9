// Internal: running training processes (verify's attempts, sweep points,
// reproduce's re-run) as children of an experiment tool.
#ifndef MLTRAIN_SRC_EXPERIMENT_PROCESS_H_
#define MLTRAIN_SRC_EXPERIMENT_PROCESS_H_

#include <string>
#include <vector>

namespace mltrain {

// One child: argv[0] is looked up in PATH unless it holds a '/'. The child
// gets this process's environment without MLTRAIN_CONTROL (the control
// contract is per child), plus `env` ("KEY=VALUE", replacing a variable of
// the same name); stdout and stderr are appended to log_path. A child dies
// with its parent (PR_SET_PDEATHSIG), so none outlives a killed tool.
struct ChildSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string log_path;
};

struct ChildResult {
  int exit_code = -1;   // when it exited (127: could not be executed)
  bool killed = false;  // it stopped itself and we SIGKILLed it (kill_when_stopped)
  int signal = 0;       // the signal that ended it, if any
};

// Runs one child to its end. With kill_when_stopped, a child that stops
// itself (SIGSTOP: MLTRAIN_CONTROL's stop_at) is SIGKILLed on the spot: a
// real hard kill at an exact training step.
ChildResult run_child(const ChildSpec& spec, bool kill_when_stopped = false);

// Runs every child with at most `jobs` at a time; results in the order given.
std::vector<ChildResult> run_children(const std::vector<ChildSpec>& specs, int jobs);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_EXPERIMENT_PROCESS_H_
