// Internal: child processes: verify's attempts, sweep points, reproduce's
// re-run, the local launcher's ranks.
#ifndef MLTRAIN_SRC_RUN_PROCESS_H_
#define MLTRAIN_SRC_RUN_PROCESS_H_

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
  std::string log_path;       // "" = the child writes to this process's stdout and stderr
  bool keep_control = false;  // pass MLTRAIN_CONTROL on (a launcher's ranks)
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

// The local launcher of `train runtime.nproc=N`: starts `argv` N times as
// ranks 0..N-1 with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, GROUP_RANK, ROLE_RANK, MASTER_ADDR=127.0.0.1, MASTER_PORT
// = a free port) and waits for them. SIGINT / SIGTERM are forwarded to every
// rank. When a rank fails (non-zero exit, killed by a signal) the others get
// SIGTERM, then SIGKILL `grace_seconds` later, and one line on stderr says
// which rank failed and how; a rank that stops itself (SIGSTOP, the control
// contract's stop_at) stops the job: the ranks are killed and the launcher
// stops itself in turn. Returns the exit code: 0, the failed rank's code, or
// 128 + the signal that killed it.
int launch_ranks(const std::vector<std::string>& argv, int nproc, double grace_seconds);

// True when `program` can be executed: a path, or a name found in PATH.
bool program_on_path(const std::string& program);

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_local_port();

}  // namespace mltrain

#endif  // MLTRAIN_SRC_RUN_PROCESS_H_
