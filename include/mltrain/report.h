// Self-contained HTML reports of a run or a sweep, for sharing a result with
// the evidence behind it (config, seed, data fingerprints, environment,
// curves, state hash).
#ifndef MLTRAIN_REPORT_H_
#define MLTRAIN_REPORT_H_

#include <string>

namespace mltrain {

// HTML (no external resources) for a run directory (has config.json) or a
// sweep directory (has sweep.json). Throws Error if `dir` is neither.
std::string render_report(const std::string& dir);

}  // namespace mltrain

#endif  // MLTRAIN_REPORT_H_
