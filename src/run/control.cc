#include "run/control.h"

#include <cstdlib>

#include "mltrain/error.h"
#include "mltrain/files.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::int64_t positive_step(const json& v, const std::string& where, const std::string& key) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1) {
    fail_usage(where + ": '" + key + "' must be a positive integer, got " + v.dump());
  }
  return v.get<std::int64_t>();
}

std::string nonempty_string(const json& v, const std::string& where, const std::string& key) {
  if (!v.is_string() || v.get<std::string>().empty()) {
    fail_usage(where + ": '" + key + "' must be a non-empty string, got " + v.dump());
  }
  return v.get<std::string>();
}

void only_keys(const json& j, const std::string& where, std::initializer_list<const char*> keys) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : keys) known = known || it.key() == k;
    if (!known) fail_usage(where + ": unknown key '" + it.key() + "'");
  }
}

}  // namespace

json RunControl::to_json() const {
  json j = json::object();
  if (stop_at > 0) j["stop_at"] = stop_at;
  if (stop_in_checkpoint > 0) j["stop_in_checkpoint"] = stop_in_checkpoint;
  if (checkpoint_every > 0) j["checkpoint_every"] = checkpoint_every;
  if (dump_from > 0) j["dump"] = {{"from", dump_from}, {"path", dump_path}};
  if (perturb_step > 0) {
    j["perturb"] = {{"step", perturb_step}, {"tensor", perturb_tensor}, {"nan", perturb_nan}};
  }
  return j;
}

RunControl RunControl::from_json(const json& j, const std::string& where) {
  if (!j.is_object()) fail_usage(where + ": expected a JSON object");
  only_keys(j, where, {"stop_at", "stop_in_checkpoint", "checkpoint_every", "dump", "perturb"});
  RunControl c;
  if (j.contains("stop_at")) c.stop_at = positive_step(j["stop_at"], where, "stop_at");
  if (j.contains("stop_in_checkpoint")) {
    c.stop_in_checkpoint = positive_step(j["stop_in_checkpoint"], where, "stop_in_checkpoint");
  }
  if (j.contains("checkpoint_every")) {
    c.checkpoint_every = positive_step(j["checkpoint_every"], where, "checkpoint_every");
  }
  if (j.contains("dump")) {
    const json& d = j["dump"];
    if (!d.is_object()) fail_usage(where + ": 'dump' must be an object {\"from\", \"path\"}");
    only_keys(d, where + " dump", {"from", "path"});
    c.dump_from = positive_step(d.value("from", json(nullptr)), where, "dump.from");
    c.dump_path = nonempty_string(d.value("path", json(nullptr)), where, "dump.path");
  }
  if (j.contains("perturb")) {
    const json& p = j["perturb"];
    if (!p.is_object()) fail_usage(where + ": 'perturb' must be an object {\"step\", \"tensor\"}");
    only_keys(p, where + " perturb", {"step", "tensor", "nan"});
    c.perturb_step = positive_step(p.value("step", json(nullptr)), where, "perturb.step");
    c.perturb_tensor = nonempty_string(p.value("tensor", json(nullptr)), where, "perturb.tensor");
    const json nan = p.value("nan", json(false));
    if (!nan.is_boolean()) fail_usage(where + ": 'perturb.nan' must be true or false");
    c.perturb_nan = nan.get<bool>();
  }
  return c;
}

std::string RunControl::env_entry() const {
  return std::string(kControlVariable) + "=" + to_json().dump();
}

RunControl control_from_environment() {
  const char* text = std::getenv(kControlVariable);
  if (text == nullptr || *text == '\0') return {};
  return RunControl::from_json(parse_json(text, kControlVariable), kControlVariable);
}

}  // namespace mltrain
