// The one exception type ml-train throws for failures a user can act on.
//
// Library code never exits the process. It throws mltrain::Error carrying a
// one-line message (naming the file:line or config key and what was expected)
// and the exit code the CLI should return:
//   kUsage (2)   bad usage, bad config, bad data, missing or corrupt file
//   kFailure (1) the job ran but failed its purpose (NaN loss, verify found a
//                difference, reproduce did not match)
//   kSigint (130), kSigterm (143)  stopped by SIGINT / SIGTERM, cleanly: the
//                run is marked interrupted and the same command resumes it
#ifndef MLTRAIN_ERROR_H_
#define MLTRAIN_ERROR_H_

#include <stdexcept>
#include <string>

namespace mltrain {

enum class ExitCode : int { kOk = 0, kFailure = 1, kUsage = 2, kSigint = 130, kSigterm = 143 };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ExitCode code = ExitCode::kUsage)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Shorthand for the common "bad input" case: throws Error(kUsage).
[[noreturn]] void fail_usage(const std::string& message);
// Throws Error(kFailure).
[[noreturn]] void fail_run(const std::string& message);

}  // namespace mltrain

#endif  // MLTRAIN_ERROR_H_
