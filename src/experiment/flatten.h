// Internal: a JSON object as dotted leaf paths ({"a": {"b": 1}} -> "a.b": 1),
// shared by diff (json_diff) and the reports (what differs, what varies).
#ifndef MLTRAIN_SRC_EXPERIMENT_FLATTEN_H_
#define MLTRAIN_SRC_EXPERIMENT_FLATTEN_H_

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace mltrain {

// Adds every leaf of j under `prefix` to out; a non-object j is one leaf
// named prefix (nothing when prefix is empty).
void flatten_json(const nlohmann::json& j, const std::string& prefix,
                  std::map<std::string, nlohmann::json>* out);

}  // namespace mltrain

#endif  // MLTRAIN_SRC_EXPERIMENT_FLATTEN_H_
