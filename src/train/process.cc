#include "train/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "mltrain/error.h"

extern char** environ;

namespace mltrain {

namespace {

// Forks and execs one child with stdout+stderr appended to its log.
pid_t spawn(const ChildSpec& spec) {
  // Everything the child needs is prepared before fork(): after it, only
  // async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    bool replaced = false;
    for (const auto& mine : spec.env) {
      const std::size_t eq = mine.find('=');
      if (eq != std::string::npos && kv.compare(0, eq + 1, mine, 0, eq + 1) == 0) replaced = true;
    }
    if (!replaced) env_strings.push_back(kv);
  }
  env_strings.insert(env_strings.end(), spec.env.begin(), spec.env.end());
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = spec.argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  int log = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) fail_usage(spec.log_path + ": cannot open log: " + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    fail_run(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(log);
  return pid;
}

}  // namespace

ChildResult run_child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      const std::string& log_path, bool kill_when_stopped) {
  pid_t pid = spawn({argv, env, log_path});
  ChildResult r;
  while (true) {
    int status = 0;
    pid_t w = ::waitpid(pid, &status, kill_when_stopped ? WUNTRACED : 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_run(std::string("waitpid failed: ") + std::strerror(errno));
    }
    if (WIFSTOPPED(status)) {
      ::kill(pid, SIGKILL);
      r.killed = true;
      continue;
    }
    if (WIFEXITED(status)) {
      r.exit_code = WEXITSTATUS(status);
      return r;
    }
    if (WIFSIGNALED(status)) {
      r.signal = WTERMSIG(status);
      return r;
    }
  }
}

std::vector<ChildResult> run_children(const std::vector<ChildSpec>& specs, int jobs) {
  std::vector<ChildResult> results(specs.size());
  std::map<pid_t, std::size_t> running;
  std::size_t next = 0;
  while (next < specs.size() || !running.empty()) {
    while (next < specs.size() && static_cast<int>(running.size()) < std::max(1, jobs)) {
      try {
        running[spawn(specs[next])] = next;
      } catch (...) {
        // Leave no orphans behind: stop and reap what is running, then report.
        for (const auto& r : running) ::kill(r.first, SIGKILL);
        for (const auto& r : running) ::waitpid(r.first, nullptr, 0);
        throw;
      }
      ++next;
    }
    int status = 0;
    pid_t w = ::waitpid(-1, &status, 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_run(std::string("waitpid failed: ") + std::strerror(errno));
    }
    auto it = running.find(w);
    if (it == running.end()) continue;
    ChildResult& r = results[it->second];
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    running.erase(it);
  }
  return results;
}

}  // namespace mltrain
