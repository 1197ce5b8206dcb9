// The names of everything ml-train writes under an output
// directory. This is the one place they are spelled; the Run API writes the
// run directory, the experiment tools read it (records.h) and write their own
// directories beside it.
//
//   <output_dir>/<run_id>/           a run (config.json ... checkpoints/)
//   <output_dir>/<run_id>/reruns/<n>/   `train --rerun`
//   <output_dir>/<run_id>/reproduce/<n>/  `reproduce`
//   <output_dir>/verify/<id>/<n>/    `verify`: one run directory per attempt
//   <output_dir>/sweeps/<sweep_id>/  `sweep`: sweep.json, one log per point
#ifndef MLTRAIN_LAYOUT_H_
#define MLTRAIN_LAYOUT_H_

namespace mltrain {
namespace layout {

// Files of a run directory.
constexpr const char* kConfig = "config.json";           // canonical identity (hashed for run_id)
constexpr const char* kRun = "run.json";                 // status, runtime, seeding, attempts
constexpr const char* kEnv = "env.json";                 // environment manifest
constexpr const char* kData = "data.json";               // data fingerprints
constexpr const char* kMetrics = "metrics.jsonl";        // one line per epoch
constexpr const char* kTrace = "trace.jsonl";            // one line per step
constexpr const char* kSummary = "summary.json";         // final metrics and state hash
constexpr const char* kModel = "model.pt";               // final weights
constexpr const char* kVocab = "vocab.txt";              // the built-in trainer's vocabulary
constexpr const char* kTokenizer = "tokenizer.model";    // its SentencePiece model, if any
constexpr const char* kEvaluations = "evaluations";      // ml-train evaluate records
constexpr const char* kVerifications = "verifications";  // ml-train verify outcomes
constexpr const char* kCheckpoints = "checkpoints";
constexpr const char* kCheckpoint = "checkpoints/last.pt";
constexpr const char* kPrevCheckpoint = "checkpoints/prev.pt";  // the one before last.pt
constexpr const char* kLock = ".lock";
constexpr const char* kReruns = "reruns";
constexpr const char* kReproduce = "reproduce";

// Directories and files of the experiment tools.
constexpr const char* kVerifyDir = "verify";
constexpr const char* kSweepsDir = "sweeps";
constexpr const char* kSweepFile = "sweep.json";
constexpr const char* kSweepLock = "sweep.lock";
constexpr const char* kFullConfig = "config.full.json";  // the config a tool's children train
constexpr const char* kReport = "report.html";
constexpr const char* kIndex = "index.html";          // report of an output directory
constexpr const char* kVerifyRecord = "verify.json";  // a verify directory's outcome

}  // namespace layout
}  // namespace mltrain

#endif  // MLTRAIN_LAYOUT_H_
