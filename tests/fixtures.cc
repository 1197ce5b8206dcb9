#include "fixtures.h"

#include <stdlib.h>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/canonical_json.h"
#include "mltrain/files.h"

namespace mltrain {
namespace fixtures {

using json = nlohmann::json;

std::string temp_dir() {
  char tmpl[] = "/tmp/mltrain_fixture_XXXXXX";
  return ::mkdtemp(tmpl);
}

FakeRun completed_run(int steps, const std::string& salt, double val_acc) {
  FakeRun r;
  for (int s = 1; s <= steps; ++s) {
    json line = {{"step", s},
                 {"epoch", 1},
                 {"batch", s},
                 {"loss", sha1_hex(salt + std::to_string(s)).substr(0, 8)},
                 {"lr", 0.01}};
    if (s % 2 == 0) line["state"] = sha1_hex("state" + salt + std::to_string(s)).substr(0, 16);
    r.trace.push_back(line);
  }
  r.metrics.push_back({{"epoch", 1}, {"step", steps}, {"val_acc", val_acc}, {"seconds", 1.5}});
  const std::string sha = sha256_hex(salt);
  r.summary = {{"state_hash", sha.substr(0, 16)},
               {"state_sha256", sha},
               {"steps", steps},
               {"val", {{"acc", val_acc}, {"f1", val_acc - 0.01}, {"loss", 0.1}}},
               {"test", {{"acc", val_acc + 0.01}, {"f1", val_acc}, {"loss", 0.09}}}};
  return r;
}

std::string write_run(const std::string& parent, const FakeRun& r, const std::string& name) {
  const std::string canonical = canonical_json(r.config);
  const std::string dir = join_path(parent, name.empty() ? sha1_hex(canonical).substr(0, 8) : name);
  make_dirs(dir);
  write_file_atomic(join_path(dir, "config.json"), canonical);
  if (!r.run.is_null()) write_json_atomic(join_path(dir, "run.json"), r.run);
  if (!r.env.is_null()) write_json_atomic(join_path(dir, "env.json"), r.env);
  if (!r.data.is_null()) write_json_atomic(join_path(dir, "data.json"), r.data);
  if (!r.summary.is_null()) write_json_atomic(join_path(dir, "summary.json"), r.summary);
  std::string metrics, trace;
  for (const auto& m : r.metrics) metrics += m.dump() + "\n";
  for (const auto& t : r.trace) trace += t.dump() + "\n";
  if (!metrics.empty()) write_file_atomic(join_path(dir, "metrics.jsonl"), metrics);
  if (!trace.empty()) write_file_atomic(join_path(dir, "trace.jsonl"), trace);
  return dir;
}

}  // namespace fixtures
}  // namespace mltrain
