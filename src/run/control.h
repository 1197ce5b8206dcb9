// Internal: the control contract, the one way a supervising process steers a
// training process that uses the Run API (the built-in trainer or a user's
// own program). Documented in docs/control.md.
//
// The supervisor (`ml-train verify`, a test) sets one environment variable,
// MLTRAIN_CONTROL, to a JSON object; Run::open reads it (through
// control_from_environment(), the only place ml-train reads an MLTRAIN_*
// variable) and records it in the attempt's entry of run.json. Keys:
//   "stop_at": S             after recording step S (and its due checkpoint)
//                            the process stops itself with SIGSTOP, so that
//                            the supervisor can SIGKILL it at exactly S
//   "stop_in_checkpoint": S  stop half-way through writing step S's
//                            checkpoint (a partial temporary file on disk)
//   "checkpoint_every": N    checkpoint every N steps in this attempt,
//                            whatever the program's own cadence
//   "dump": {"from": S, "path": P}
//                            append per-tensor sha256s (inputs, gradients,
//                            optimizer state, parameters) of every step >= S
//                            to P as JSON lines (divergence localisation)
//   "perturb": {"step": S, "tensor": NAME, "nan": false}
//                            self-test only: after step S, add 1e-3 to the
//                            parameter NAME (or fill it with NaN), so that a
//                            test can prove verify catches a difference
// Unknown keys and wrong types are errors (exit 2) naming MLTRAIN_CONTROL.
#ifndef MLTRAIN_SRC_RUN_CONTROL_H_
#define MLTRAIN_SRC_RUN_CONTROL_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace mltrain {

constexpr const char* kControlVariable = "MLTRAIN_CONTROL";

struct RunControl {
  std::int64_t stop_at = 0;
  std::int64_t stop_in_checkpoint = 0;
  std::int64_t checkpoint_every = 0;
  std::int64_t dump_from = 0;  // 0 = no dump
  std::string dump_path;
  std::int64_t perturb_step = 0;  // 0 = no perturbation
  std::string perturb_tensor;
  bool perturb_nan = false;

  bool empty() const { return to_json().empty(); }
  // The JSON object of the contract ({} when nothing is asked).
  nlohmann::json to_json() const;
  // Throws Error (kUsage) naming `where` on unknown keys or wrong values.
  static RunControl from_json(const nlohmann::json& j, const std::string& where);
  // "MLTRAIN_CONTROL=<json>", for a child's environment.
  std::string env_entry() const;
};

// Parses MLTRAIN_CONTROL from this process's environment (empty when unset).
RunControl control_from_environment();

}  // namespace mltrain

#endif  // MLTRAIN_SRC_RUN_CONTROL_H_
