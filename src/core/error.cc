#include "mltrain/error.h"

namespace mltrain {

void fail_usage(const std::string& message) { throw Error(message, ExitCode::kUsage); }
void fail_run(const std::string& message) { throw Error(message, ExitCode::kFailure); }

}  // namespace mltrain
