// Test fixtures: small run directories written by hand (no training), for
// the unit tests of the experiment tools.
#ifndef MLTRAIN_TESTS_FIXTURES_H_
#define MLTRAIN_TESTS_FIXTURES_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mltrain {
namespace fixtures {

// A new empty directory under /tmp.
std::string temp_dir();

// What a run directory holds; null members / empty lists are not written.
struct FakeRun {
  nlohmann::json config = {{"seed", 1}, {"deterministic", true}, {"model", {{"arch", "bow"}}}};
  nlohmann::json run = {{"status", "completed"}};
  nlohmann::json env = {{"blas", {{"loaded", "openblas"}}}};
  nlohmann::json data = nullptr;
  nlohmann::json summary = nullptr;
  std::vector<nlohmann::json> metrics;
  std::vector<nlohmann::json> trace;
};

// A completed run of `steps` steps whose loss and state hashes are a
// function of `salt`: two runs with the same salt are identical.
FakeRun completed_run(int steps, const std::string& salt, double val_acc = 0.9);

// Writes `run` into parent/<name> ("" = its run id, sha1 of config.json) and
// returns the directory.
std::string write_run(const std::string& parent, const FakeRun& run, const std::string& name = "");

}  // namespace fixtures
}  // namespace mltrain

#endif  // MLTRAIN_TESTS_FIXTURES_H_
