// Fuzzes the run-record readers and what the experiment tools do with a run
// directory that holds arbitrary bytes in one of its files: load_run, diff,
// the text diff, the HTML report, and sweep.json. Anything but an
// mltrain::Error (a json.exception above all) is a finding.
#include <unistd.h>

#include <cstdlib>

#include "core/fs.h"
#include "fuzz_common.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/records.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* kFiles[] = {"run.json",      "summary.json", "data.json",   "env.json",
                                 "metrics.jsonl", "trace.jsonl",  "config.json", "sweep.json"};
  const std::string file = kFiles[data[0] % 8];
  const std::string dir = mltrain::fuzz::scratch() + "/run";
  mltrain::make_dirs(dir);
  for (const char* f : kFiles) ::unlink((dir + "/" + f).c_str());
  ::unlink((dir + "/report.html").c_str());
  if (file != "config.json") mltrain::write_file_atomic(dir + "/config.json", "{\"seed\":1}");
  mltrain::write_file_atomic(dir + "/" + file, mltrain::fuzz::as_string(data + 1, size - 1));
  try {
    if (file == "sweep.json") {
      mltrain::render_report(dir);
      return 0;
    }
    const mltrain::RunRecord r = mltrain::load_run(dir);
    r.status();
    r.state_hash();
    mltrain::format_diff(mltrain::diff_runs(r, r));
    mltrain::compare_results(r, r);
    mltrain::render_report(dir);
    mltrain::list_runs(mltrain::fuzz::scratch(), {"model.arch=bow"}, "val_acc");
  } catch (const mltrain::Error&) {
  }
  return 0;
}
