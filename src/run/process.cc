#include "run/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <thread>

#include "core/fs.h"
#include "mltrain/error.h"
#include "run/control.h"

extern char** environ;

namespace mltrain {

namespace {

// SIGINT / SIGTERM while children run: forwarded to each of them (they stop
// cleanly and mark their runs interrupted), then the tool stops too.
constexpr int kMaxChildren = 256;
std::atomic<pid_t> g_children[kMaxChildren];
volatile std::sig_atomic_t g_forwarded = 0;

extern "C" void forward_signal(int sig) {
  g_forwarded = sig;
  for (auto& c : g_children) {
    const pid_t p = c.load();
    if (p > 0) ::kill(p, sig);
  }
}

void track(pid_t pid) {
  for (auto& c : g_children) {
    pid_t empty = 0;
    if (c.compare_exchange_strong(empty, pid)) return;
  }
}

void untrack(pid_t pid) {
  for (auto& c : g_children) {
    pid_t p = pid;
    if (c.compare_exchange_strong(p, 0)) return;
  }
}

// Forwards SIGINT and SIGTERM to the children for its lifetime; then, if one
// came, throws Error with exit code 130 / 143.
class Forwarding {
 public:
  Forwarding() {
    g_forwarded = 0;
    struct sigaction sa {};
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~Forwarding() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  Forwarding(const Forwarding&) = delete;
  Forwarding& operator=(const Forwarding&) = delete;
  bool signalled() const { return g_forwarded != 0; }
  void throw_if_signalled() const {
    const int sig = g_forwarded;
    if (sig == 0) return;
    fail_interrupted(sig);
  }
  [[noreturn]] static void fail_interrupted(int sig) {
    throw Error(std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                    "; the runs it started stopped cleanly and resume when the same command "
                    "is run again",
                sig == SIGINT ? ExitCode::kSigint : ExitCode::kSigterm);
  }

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

std::string env_name(const std::string& kv) { return kv.substr(0, kv.find('=')); }

// Forks and execs one child with stdout+stderr appended to its log.
pid_t spawn(const ChildSpec& spec) {
  if (spec.argv.empty()) fail_usage("cannot run an empty command");
  // Everything the child needs is prepared before fork(): after it, only
  // async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string name = env_name(kv);
    bool replaced = name == kControlVariable && !spec.keep_control;
    for (const auto& mine : spec.env) {
      replaced = replaced || (mine.find('=') != std::string::npos && env_name(mine) == name);
    }
    if (!replaced) env_strings.push_back(kv);
  }
  for (const auto& mine : spec.env) {
    if (mine.find('=') != std::string::npos) env_strings.push_back(mine);
  }
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = spec.argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  const std::string exec_error = "ml-train: cannot execute " + spec.argv[0] + "\n";

  int log = -1;
  if (!spec.log_path.empty()) {
    log = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) fail_usage(spec.log_path + ": cannot open log: " + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    if (log >= 0) ::close(log);
    fail_run(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Dies with its parent; in a process group of its own, so that a
    // terminal's Ctrl-C reaches only the parent, which forwards it once.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::setpgid(0, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &dfl, nullptr);
    ::sigaction(SIGTERM, &dfl, nullptr);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    ::execvpe(args[0], args.data(), envp.data());
    ssize_t ignored = ::write(STDERR_FILENO, exec_error.data(), exec_error.size());
    (void)ignored;
    ::_exit(127);
  }
  if (log >= 0) ::close(log);
  track(pid);
  return pid;
}

void record_status(int status, ChildResult* r) {
  if (WIFEXITED(status)) r->exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r->signal = WTERMSIG(status);
}

}  // namespace

ChildResult run_child(const ChildSpec& spec, bool kill_when_stopped) {
  Forwarding forwarding;
  const pid_t pid = spawn(spec);
  ChildResult r;
  while (true) {
    int status = 0;
    const pid_t w = ::waitpid(pid, &status, kill_when_stopped ? WUNTRACED : 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_run(std::string("waitpid failed: ") + std::strerror(errno));
    }
    if (WIFSTOPPED(status)) {
      ::kill(pid, SIGKILL);
      r.killed = true;
      continue;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      untrack(pid);
      record_status(status, &r);
      forwarding.throw_if_signalled();
      return r;
    }
  }
}

std::vector<ChildResult> run_children(const std::vector<ChildSpec>& specs, int jobs) {
  Forwarding forwarding;
  std::vector<ChildResult> results(specs.size());
  std::map<pid_t, std::size_t> running;
  std::size_t next = 0;
  while (next < specs.size() || !running.empty()) {
    while (!forwarding.signalled() && next < specs.size() &&
           static_cast<int>(running.size()) < std::max(1, jobs)) {
      try {
        running[spawn(specs[next])] = next;
      } catch (...) {
        // Leave no orphans behind: stop and reap what is running, then report.
        for (const auto& r : running) ::kill(r.first, SIGKILL);
        for (const auto& r : running) {
          ::waitpid(r.first, nullptr, 0);
          untrack(r.first);
        }
        throw;
      }
      ++next;
    }
    int status = 0;
    const pid_t w = ::waitpid(-1, &status, 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_run(std::string("waitpid failed: ") + std::strerror(errno));
    }
    auto it = running.find(w);
    if (it == running.end()) continue;
    untrack(w);
    record_status(status, &results[it->second]);
    running.erase(it);
    if (forwarding.signalled() && running.empty()) break;  // start no more
  }
  forwarding.throw_if_signalled();
  return results;
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_run(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    fail_run("cannot find a free port on 127.0.0.1: " + why);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

int launch_ranks(const std::vector<std::string>& argv, int nproc, double grace_seconds) {
  const int port = free_local_port();
  Forwarding forwarding;
  std::vector<pid_t> pids;
  auto kill_all = [&](int sig) {
    for (pid_t p : pids) {
      if (p > 0) ::kill(p, sig);
    }
  };
  for (int r = 0; r < nproc; ++r) {
    ChildSpec spec;
    spec.argv = argv;
    spec.keep_control = true;
    const std::string rank = std::to_string(r), world = std::to_string(nproc);
    spec.env = {"RANK=" + rank,
                "LOCAL_RANK=" + rank,
                "GROUP_RANK=0",
                "ROLE_RANK=" + rank,
                "WORLD_SIZE=" + world,
                "LOCAL_WORLD_SIZE=" + world,
                "ROLE_WORLD_SIZE=" + world,
                "MASTER_ADDR=127.0.0.1",
                "MASTER_PORT=" + std::to_string(port)};
    try {
      pids.push_back(spawn(spec));
    } catch (...) {
      kill_all(SIGKILL);
      for (pid_t p : pids) {
        ::waitpid(p, nullptr, 0);
        untrack(p);
      }
      throw;
    }
  }
  int running = nproc, code = 0, failed = -1;
  std::string why;
  bool stopped = false;
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int status = 0;
    const pid_t w = ::waitpid(-1, &status, WUNTRACED | WNOHANG);
    if (w < 0 && errno != EINTR && errno != ECHILD) {
      fail_run(std::string("waitpid failed: ") + std::strerror(errno));
    }
    if (w <= 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill_all(SIGKILL);
        deadline = std::chrono::steady_clock::time_point::max();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int r = -1;
    for (int i = 0; i < nproc; ++i) {
      if (pids[static_cast<std::size_t>(i)] == w) r = i;
    }
    if (r < 0) continue;
    if (WIFSTOPPED(status)) {
      // A rank stopped itself at a step (stop_at): the job stops there.
      stopped = true;
      kill_all(SIGKILL);
      continue;
    }
    --running;
    untrack(w);
    pids[static_cast<std::size_t>(r)] = -1;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && failed < 0 && !stopped) {
      failed = r;
      if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
        why = "exited with code " + std::to_string(code);
      } else {
        code = 128 + WTERMSIG(status);
        const char* abbrev = ::sigabbrev_np(WTERMSIG(status));
        why = "was killed by " + (abbrev ? "SIG" + std::string(abbrev) : "a signal") + " (signal " +
              std::to_string(WTERMSIG(status)) + ")";
      }
      if (running > 0) {
        kill_all(SIGTERM);
        deadline = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<std::int64_t>(grace_seconds * 1000));
      }
    }
  }
  if (stopped) {
    ::raise(SIGSTOP);  // whoever steers us (verify) sees the job stop at the step
    return 137;
  }
  if (failed >= 0) {
    std::cerr << "ml-train: rank " << failed << " of " << nproc << " " << why
              << (nproc > 1 ? "; stopped the other ranks" : "") << "\n";
    return code;
  }
  return 0;
}

bool program_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t pos = 0;
  while (pos <= dirs.size()) {
    const auto colon = dirs.find(':', pos);
    const std::string d =
        dirs.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    if (::access(join_path(d.empty() ? "." : d, program).c_str(), X_OK) == 0) return true;
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  return false;
}

}  // namespace mltrain
