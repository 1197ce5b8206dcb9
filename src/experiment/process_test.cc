#include "experiment/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include "core/fs.h"
#include "fixtures.h"

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

}  // namespace
}  // namespace mltrain
