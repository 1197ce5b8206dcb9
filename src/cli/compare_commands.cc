#include "cli/commands.h"
#include "mltrain/error.h"

namespace mltrain {
namespace cli {
int cmd_verify(const VerifyArgs&, const std::string&) { fail_usage("verify: not built yet"); }
int cmd_reproduce(const std::string&, bool, const std::string&) { fail_usage("reproduce: not built yet"); }
int cmd_diff(const std::string&, const std::string&, bool) { fail_usage("diff: not built yet"); }
}  // namespace cli
}  // namespace mltrain
