#include "run/control.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "mltrain/error.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::string error_of(const json& j) {
  try {
    RunControl::from_json(j, "MLTRAIN_CONTROL");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    return e.what();
  }
  return "";
}

TEST(RunControl, EmptyByDefault) {
  RunControl c;
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.to_json(), json::object());
}

TEST(RunControl, RoundTripsThroughJsonAndTheEnvironment) {
  RunControl c;
  c.stop_at = 7;
  c.stop_in_checkpoint = 4;
  c.checkpoint_every = 3;
  c.dump_from = 5;
  c.dump_path = "/tmp/d.jsonl";
  c.perturb_step = 9;
  c.perturb_tensor = "fc2.weight";
  c.perturb_nan = true;
  RunControl back = RunControl::from_json(c.to_json(), "x");
  EXPECT_EQ(back.to_json(), c.to_json());
  const std::string entry = c.env_entry();
  ASSERT_EQ(entry.rfind("MLTRAIN_CONTROL=", 0), 0u);
  ::setenv("MLTRAIN_CONTROL", entry.substr(16).c_str(), 1);
  EXPECT_EQ(control_from_environment().to_json(), c.to_json());
  ::setenv("MLTRAIN_CONTROL", "", 1);
  EXPECT_TRUE(control_from_environment().empty());
  ::setenv("MLTRAIN_CONTROL", "{stop", 1);
  EXPECT_THROW(control_from_environment(), Error);
  ::unsetenv("MLTRAIN_CONTROL");
  EXPECT_TRUE(control_from_environment().empty());
}

TEST(RunControl, RejectsWhatItDoesNotKnow) {
  EXPECT_NE(error_of({{"stop_at", 3}, {"stopat", 4}}).find("unknown key 'stopat'"),
            std::string::npos);
  EXPECT_NE(error_of({{"stop_at", 0}}).find("positive integer"), std::string::npos);
  EXPECT_NE(error_of({{"stop_at", "7"}}).find("positive integer"), std::string::npos);
  EXPECT_NE(error_of({{"dump", {{"from", 2}}}}).find("dump.path"), std::string::npos);
  EXPECT_NE(error_of({{"perturb", {{"step", 2}, {"tensor", ""}}}}).find("perturb.tensor"),
            std::string::npos);
  EXPECT_NE(error_of({{"perturb", {{"step", 2}, {"tensor", "w"}, {"nan", 1}}}}).find("perturb.nan"),
            std::string::npos);
  EXPECT_NE(error_of(json::array()).find("expected a JSON object"), std::string::npos);
}

}  // namespace
}  // namespace mltrain
