// Module probes: where inside a step two runs first differ. A model passes
// the output of each of its modules through probe("name", output), in
// execution order. That costs one branch, unless the Run is dumping this
// step for divergence localisation (verify, diff): then the probe records
// the sha256 of the output ("forward") and, through a gradient hook, of the
// gradient that flows back into it ("backward"), and verify names the first
// module whose output differs, e.g.
//   step 9: first differs in layers.0.self_attn (forward output)
// The built-in models probe every module; a model of yours may probe any
// tensor it likes. Only forward passes with gradients enabled are recorded
// (evaluation is not).
#ifndef MLTRAIN_PROBE_H_
#define MLTRAIN_PROBE_H_

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace mltrain {

// Returns `output` unchanged (recording it when armed).
at::Tensor probe(const std::string& name, const at::Tensor& output);

// What the probes recorded since arm(): the Run API's side.
struct ProbeRecords {
  std::vector<std::pair<std::string, std::string>> forward, backward;  // (name, sha256)
};

// Starts recording (clearing what was recorded); disarm() stops and returns
// the records. Not for concurrent training loops in one process.
void probe_arm();
ProbeRecords probe_disarm();
bool probe_armed();

}  // namespace mltrain

#endif  // MLTRAIN_PROBE_H_
