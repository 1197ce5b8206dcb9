#include "run/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/fs.h"
#include "fixtures.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

ChildSpec sh(const std::string& script, const std::string& log,
             const std::vector<std::string>& env = {}) {
  return {{"sh", "-c", script}, env, log};
}

TEST(RunChild, ReportsExitCodesAndSignals) {
  const std::string log = fixtures::temp_dir() + "/log";
  EXPECT_EQ(run_child(sh("exit 3", log)).exit_code, 3);
  ChildResult killed = run_child(sh("kill -TERM $$", log));
  EXPECT_EQ(killed.signal, SIGTERM);
  EXPECT_FALSE(killed.killed);
  EXPECT_EQ(run_child({{"/nonexistent/program"}, {}, log}).exit_code, 127);
  EXPECT_NE(read_file(log).find("cannot execute /nonexistent/program"), std::string::npos);
}

TEST(RunChild, KillsAChildThatStopsItself) {
  const std::string log = fixtures::temp_dir() + "/log";
  ChildResult r = run_child(sh("echo before; kill -STOP $$; echo after", log), true);
  EXPECT_TRUE(r.killed);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(read_file(log), "before\n");  // it never ran past the stop
}

TEST(RunChild, EnvironmentReplacesAndDropsTheControlVariable) {
  const std::string log = fixtures::temp_dir() + "/log";
  ::setenv("MLTRAIN_CONTROL", "{\"stop_at\": 1}", 1);
  ::setenv("MLTRAIN_TEST_KEEP", "kept", 1);
  ::setenv("MLTRAIN_TEST_REPLACED", "old", 1);
  run_child(sh("echo \"${MLTRAIN_CONTROL:-none} $MLTRAIN_TEST_KEEP $MLTRAIN_TEST_REPLACED\"", log,
               {"MLTRAIN_TEST_REPLACED=new"}));
  run_child(sh("echo \"$MLTRAIN_CONTROL\"", log, {"MLTRAIN_CONTROL={}"}));
  ::unsetenv("MLTRAIN_CONTROL");
  EXPECT_EQ(read_file(log), "none kept new\n{}\n");  // appended, in order
}

TEST(RunChildren, RunsAtMostJobsAtATimeAndKeepsOrder) {
  const std::string dir = fixtures::temp_dir();
  std::vector<ChildSpec> specs;
  // Each child records how many are running (files in dir/running) at its start.
  for (int i = 0; i < 5; ++i) {
    const std::string me = dir + "/running." + std::to_string(i);
    specs.push_back(sh("touch " + me + "; ls " + dir + " | grep -c running > " + dir + "/count." +
                           std::to_string(i) + "; sleep 0.2; rm " + me + "; exit " +
                           std::to_string(i),
                       dir + "/log"));
  }
  std::vector<ChildResult> r = run_children(specs, 2);
  ASSERT_EQ(r.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r[static_cast<std::size_t>(i)].exit_code, i);
    const int running = std::stoi(read_file(dir + "/count." + std::to_string(i)));
    EXPECT_GE(running, 1);
    EXPECT_LE(running, 2);
  }
}

// A SIGTERM to the tool reaches every running child once (they are in their
// own process group), no further child starts, and the tool stops with 143.
TEST(RunChildren, ForwardsSigtermAndStops) {
  const std::string dir = fixtures::temp_dir();
  std::vector<ChildSpec> specs;
  for (int i = 0; i < 4; ++i) {
    specs.push_back(sh("echo started >> " + dir + "/started; trap 'echo term >> " + dir +
                           "/got; exit 7' TERM; sleep 5 & wait",
                       dir + "/log"));
  }
  std::thread killer([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(::getpid(), SIGTERM);
  });
  try {
    run_children(specs, 2);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), 143);
  }
  killer.join();
  EXPECT_EQ(read_file(dir + "/started"), "started\nstarted\n");  // the other two never started
  EXPECT_EQ(read_file(dir + "/got"), "term\nterm\n");
}

}  // namespace
}  // namespace mltrain
