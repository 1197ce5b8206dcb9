// The Run API: the one way a training loop, the built-in trainer's or yours,
// gets ml-train's guarantees. Five calls inside your own LibTorch loop:
//
//   mltrain::Run run = mltrain::Run::open(identity, options);  // run dir, lock, env, seeding
//   if (run.completed()) return;              // finished earlier: its summary is run.summary()
//   MyModel model; torch::optim::Adam opt(...);  // built after open(): open() seeds
//   mltrain::RunPosition pos = run.resume(*model, opt);  // from the last checkpoint, if any
//   for (std::int64_t e = pos.epoch; e < epochs; ++e) {
//     loader.start_epoch(e, e == pos.epoch ? pos.batch : 0);
//     while (loader.next(&batch)) {
//       ... forward, loss, backward, optimizer step ...
//       run.record_step(loss.item<float>(), lr);    // trace line, due checkpoints
//     }
//     run.record_epoch({{"val_acc", acc}});         // metrics.jsonl, end-of-epoch checkpoint
//   }
//   run.finish({{"val_acc", acc}});                 // model.pt, summary.json with the state hash
//
// What that gives, for any model and loop:
// - Identity: `identity` (a JSON object holding at least "seed") is written
//   as config.json in canonical form; run_id = sha1(config.json)[:8]; the run
//   lives in <output_dir>/<run_id>/ (or options.dir).
// - Records: run.json (status running|completed|failed|interrupted, one entry
//   per attempt with its command line), env.json, data.json, metrics.jsonl,
//   trace.jsonl (per step: loss as exact float32 bits, lr, and the model's
//   state hash every trace_every steps), summary.json, model.pt. Every whole
//   file is written atomically; the JSONL files are append-only.
// - CPU kernels: open() first calls pin_cpu_kernels(deterministic,
//   runtime.cpu_capability) (kernels.h): a deterministic run computes with
//   the portable x86-64-v3 kernels, so its bits are the same on every such
//   machine. That may re-execute your program once (same command line, same
//   pid) before open() connects or writes anything: open the Run before
//   work you would not want to do twice.
// - Seeding: open() calls seed_everything(seed, deterministic) from the
//   identity, after recording the environment and before your model exists.
// - Resume: a run that was killed (even kill -9) and is started again with
//   the same identity continues from its last checkpoint: model, optimizer,
//   LibTorch's CPU generator, generators you track, state() and the position
//   are restored, the trace and metrics are cut back to that point, and the
//   run ends bit-identical to an uninterrupted one when the loop itself is
//   deterministic.
// - A completed run is never trained or rewritten again: open() reports it
//   (completed()), or with options.rerun trains it again into reruns/<n>/.
// - One process per run: open() takes an exclusive lock on the directory.
// - Experiment tools: `ml-train verify -- YOUR_PROGRAM {run_dir}`, `diff`,
//   `report` and `runs` work on these directories. verify steers a program
//   through the control contract of docs/control.md (stop at a step, dump
//   tensor hashes); nothing in your code has to handle it.
//
// Errors (bad identity, a directory holding another config, a locked run, a
// corrupt checkpoint) are thrown as mltrain::Error with exit code 2; a NaN or
// infinite loss makes record_step() throw Error with exit code 1 after
// marking the run failed.
//
// Checkpoints: the last two are kept (checkpoints/last.pt, prev.pt); when the
// latest fails its checksum the run resumes from the one before, with a
// warning on stderr.
//
// Signals: from open() until the Run is destroyed, SIGINT and SIGTERM do not
// kill the process; the step in progress finishes, record_step() (or
// record_epoch()) saves a checkpoint, marks the attempt interrupted and
// throws Error with exit code 130 (SIGINT) or 143 (SIGTERM). Running the same
// command resumes there. A second signal kills the process at once.
//
// Ranks (data-parallel training, docs/distributed.md): a program started as
// several ranks (torchrun's or Slurm's environment, or
// launch_ranks_if_needed() in ranks.h for `runtime.nproc`) calls open() on
// every rank with the same identity and data. open() connects the ranks
// (options.group, or itself from the environment), checks that every rank
// has the same identity and data fingerprints (exit 2 naming the rank that
// differs), and gives the run to rank 0: only rank 0 reads and writes the
// run directory, checkpoints and prints; on the other ranks every recording
// call is a no-op but for what keeps them in step. resume() gives every rank
// rank 0's starting state (fresh or from its checkpoint: model, optimizer,
// generators, state(), position); record_epoch() checks that every rank
// holds rank 0's weights (a rank that differs fails the run, naming it) and
// finish() returns rank 0's summary on every rank. Every rank must make the
// same calls in the same order (they are collectives). SIGINT / SIGTERM stop
// the job through rank 0; the other ranks ignore them. The gradients are the
// loop's business: GradShards (shards.h) cuts each batch into a fixed number
// of shards and adds their gradients in shard order, so that any number of
// ranks up to that number gives the same bits.
//
// Ordering contract of the loop's calls:
// - Build the model and optimizer after open() (open() seeds them), then
//   track_generator() your generators, set state() to its initial value,
//   then resume() once.
// - Per step: forward, backward, optimizer.step(), then update state() for
//   this step, then record_step(). record_step() may checkpoint (every
//   checkpoint_every steps), and a checkpoint saves state() as it is at that
//   moment, so a value updated after record_step() of step s belongs to
//   step s + 1 when resumed.
// - Per epoch: bring state() to what the next epoch starts from (e.g. reset
//   a running loss), then record_epoch(metrics): it appends the metrics line
//   and always checkpoints, pointing at batch 0 of the next epoch, with
//   state() as it is then.
// - finish(final_metrics) after the last epoch: model.pt and summary.json.
//
// Not thread-safe: one Run, used from the thread that runs the loop.
#ifndef MLTRAIN_RUN_H_
#define MLTRAIN_RUN_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mltrain/config.h"

namespace at {
class Tensor;
struct Generator;
}  // namespace at
namespace torch {
namespace nn {
class Module;
}  // namespace nn
namespace optim {
class Optimizer;
}  // namespace optim
}  // namespace torch

namespace mltrain {

class Group;

struct RunOptions {
  std::string output_dir = "runs";        // the run goes to <output_dir>/<run_id>/ ...
  std::string dir;                        // ... or exactly here, when not empty
  bool rerun = false;                     // a completed run: train again into <dir>/reruns/<n>/
  std::int64_t checkpoint_every = 0;      // steps between checkpoints; 0 = at record_epoch only
  std::int64_t trace_every = 50;          // state hash in the trace every N steps
  std::vector<std::string> command_line;  // recorded per attempt in run.json
  nlohmann::json runtime = nlohmann::json::object();  // execution settings, run.json "runtime"
  // data.json: fingerprints of the data (e.g. tensor_sha256() of your
  // tensors, or prepare_data()'s). A resumed run, and every rank, must have
  // the same: in prepare_data()'s shape the files' sha256 and the vocabulary
  // are compared, any other object as a whole.
  nlohmann::json data = nullptr;
  std::string trainer;          // who trains, recorded in run.json ("" = this program)
  std::string divergence_hint;  // appended to the NaN-loss error message
  bool wait_for_lock = false;   // another process trains this run: wait for it, not fail
  // The loop's shape, when known: a checkpoint whose position does not fit it
  // (epoch > epochs, batch > steps_per_epoch, step != epoch * steps_per_epoch
  // + batch) is rejected. 0 = unknown.
  std::int64_t epochs = 0;
  std::int64_t steps_per_epoch = 0;
  // Ranks: the job's connection (connect_ranks() in ranks.h), when the loop
  // made it before open() (e.g. to prepare its data on rank 0 first); when
  // null and the environment names several ranks, open() connects them.
  std::shared_ptr<Group> group;
  double dist_timeout = 300;  // seconds a rank waits for the store or a peer
  // Intra-op threads (at::set_num_threads): 0 = LibTorch's default, or with
  // several ranks on this machine the cores shared out among them.
  std::int64_t threads = 0;
};

// Where the loop (re)starts: `epoch` (0-based) and `batch` (steps already
// taken in that epoch), after `step` steps in all.
struct RunPosition {
  std::int64_t epoch = 0;
  std::int64_t batch = 0;
  std::int64_t step = 0;
  std::int64_t resumed_from_step = -1;  // -1: started from scratch
  bool resumed() const { return resumed_from_step >= 0; }
};

class Run {
 public:
  // Opens (creating if needed) the run directory of `identity`, locks it,
  // records the environment, seeds every generator and starts an attempt.
  // See the file comment for what it checks. The returned Run has written
  // config.json, env.json, data.json (when options.data is set) and run.json.
  static Run open(const nlohmann::json& identity, const RunOptions& options);

  Run(Run&&) noexcept;
  Run& operator=(Run&&) noexcept;
  // A Run destroyed before finish() leaves the attempt marked "failed" when
  // an exception is propagating and "interrupted" otherwise (a rerun of the
  // program resumes it). A run directory this attempt created and that has
  // not recorded a step yet is removed when it fails.
  ~Run();

  const std::string& id() const;   // run_id
  const std::string& dir() const;  // the run directory (rank 0's)
  std::uint64_t seed() const;
  bool deterministic() const;

  // This process's place among the job's ranks: rank 0 of 1 for one
  // process. leader() is rank 0, the one that records. group() is the
  // connection to the other ranks, null for one process.
  int rank() const;
  int world() const;
  bool leader() const;
  Group* group() const;

  // True when the run had completed before open(): nothing else may be
  // recorded; summary() holds what it recorded.
  bool completed() const;
  const nlohmann::json& summary() const;
  // For options.rerun of a completed run: the original run's summary (this
  // Run trains into its reruns/<n>/); null otherwise.
  const nlohmann::json& rerun_of() const;

  // Writes an artefact of the run (e.g. "vocab.txt") atomically into the
  // run directory. `name` is a plain file name.
  void write_file(const std::string& name, const std::string& bytes);
  // Adds `key: value` to run.json (e.g. where the initial weights came from).
  void annotate(const std::string& key, const nlohmann::json& value);

  // A generator of your own (e.g. a torch::Generator your loop draws from)
  // to save in every checkpoint and restore on resume. Call before resume().
  void track_generator(const std::string& name, const at::Generator& generator);
  // Values of your loop's own (counters, running sums) saved in every
  // checkpoint and restored by resume(). Doubles round-trip exactly.
  nlohmann::json& state();

  // Attaches the model and optimizer whose state the checkpoints hold and,
  // when the run has a checkpoint, restores it (see the file comment).
  // Returns where the loop starts. Call once, before the first record_step.
  RunPosition resume(torch::nn::Module& model, torch::optim::Optimizer& optimizer);
  RunPosition position() const;

  // Names an input of the coming step (e.g. the batch tensors), so that a
  // divergence can be traced to the data. Costs nothing unless verify asked
  // for tensor dumps.
  void record_input(const std::string& name, const at::Tensor& tensor);
  // Records one optimizer step, after optimizer.step(): a trace line with the
  // loss's exact bits and `lr` (omitted when NaN), the state hash every
  // trace_every steps, and a checkpoint every checkpoint_every steps. A
  // non-finite loss marks the run failed and throws Error (exit code 1).
  void record_step(float loss, double lr = std::numeric_limits<double>::quiet_NaN());
  // Ends an epoch: appends `metrics` (plus epoch, step, and seconds unless
  // given) to metrics.jsonl and checkpoints at the start of the next epoch.
  void record_epoch(const nlohmann::json& metrics);
  // Saves a checkpoint now.
  void checkpoint();
  // Completes the run: writes model.pt and summary.json (`final_metrics`
  // plus run_id, state_hash, state_sha256, steps, epochs, train_seconds,
  // wall_seconds, model_file) and marks it completed. Returns the summary.
  nlohmann::json finish(const nlohmann::json& final_metrics);
  // Marks the run failed with `message` and throws Error(message, exit 1).
  [[noreturn]] void fail(const std::string& message);

 private:
  struct Impl;
  explicit Run(std::unique_ptr<Impl> impl);
  // open() once the ranks are settled: rank 0's (or the only) directory.
  static Run open_here(std::unique_ptr<Impl> impl, const nlohmann::json& identity);
  std::unique_ptr<Impl> impl_;
};

// The device a loop trains on, from runtime.device: "cpu"; "cuda" (with
// ranks, cuda:<local_rank>); "cuda:N"; "auto" (a GPU when LibTorch sees one,
// else the CPU). Returns the device as LibTorch spells it ("cpu",
// "cuda:0"). Error (exit 2) naming runtime.device when a GPU is asked for and
// this LibTorch has no CUDA, sees no GPU, or has no device N.
std::string resolve_device(const std::string& spec, int local_rank = 0);

// RunOptions from a ConfigSpec's settings (config.h): output_dir,
// checkpoint_every, trace_every, threads and dist_timeout from the runtime.*
// keys it declared (ConfigSpec::run_keys()), and every runtime.* value as
// run.json's "runtime".
RunOptions run_options(const Settings& settings);

// Model files: model.pt, what finish() writes (a header with the weights'
// state_sha256 and the payload's checksum, then a LibTorch archive).
//
// Verifies a model file's header and checksum without reading its weights
// and returns the state_sha256 it records. Error (exit 2) naming the file
// when it is missing or damaged.
std::string verify_weights_file(const std::string& path);
// Loads a model file into `model` (the same structure it was saved from).
// Error (exit 2) naming the file when it is missing, damaged or does not fit.
void load_weights(const std::string& path, torch::nn::Module& model);

}  // namespace mltrain

#endif  // MLTRAIN_RUN_H_
