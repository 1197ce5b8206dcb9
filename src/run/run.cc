// The Run API (include/mltrain/run.h): the run directory, its records, the
// checkpoints and the services verify asks of a training process (run/control.h).
#include "mltrain/run.h"

#include <torch/torch.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <exception>
#include <iostream>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/canonical_json.h"
#include "mltrain/env.h"
#include "mltrain/error.h"
#include "mltrain/files.h"
#include "mltrain/format.h"
#include "mltrain/kernels.h"
#include "mltrain/layout.h"
#include "mltrain/probe.h"
#include "mltrain/ranks.h"
#include "mltrain/seed.h"
#include "mltrain/state_hash.h"
#include "repro/state_dict.h"
#include "run/checkpoint.h"
#include "run/control.h"
#include "run/dump.h"
#include "run/record_files.h"

namespace mltrain {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", u);
  return buf;
}

// The seed of an identity: every run has one.
std::uint64_t identity_seed(const json& identity) {
  const json s = identity.value("seed", json(nullptr));
  if (s.is_number_unsigned()) return s.get<std::uint64_t>();
  if (s.is_number_integer() && s.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(s.get<std::int64_t>());
  }
  fail_usage("run identity: 'seed' must be an integer in [0, 18446744073709551615], got " +
             json_line(s) + " (every run is seeded from its identity)");
}

// Data fingerprints that must not change under a resumed run (and must be
// the same on every rank): in ml-train's data.json shape, the sha256 of each
// split's file and the vocabulary; any other object (a loop's own
// fingerprints) as a whole.
json data_identity(const json& data) {
  json out = json::object();
  if (!data.is_object()) return out;
  if (!data.contains("files") && !data.contains("vocab")) return data;
  if (data.contains("files") && data["files"].is_array()) {
    for (const auto& f : data["files"]) {
      if (f.is_object()) out["files"][f.value("split", "?")] = f.value("sha256", json(nullptr));
    }
  }
  if (data.contains("vocab")) out["vocab"] = data["vocab"];
  return out;
}

// SIGINT / SIGTERM while a Run is active: remember the signal, let the step
// finish, and die at once on a second one.
volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int sig) {
  g_signal = sig;
  static const char kMsg[] =
      "ml-train: stopping after this step, the run can be resumed (signal again to abort now)\n";
  ssize_t ignored = ::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
  std::signal(sig, SIG_DFL);
}

// Installs the handlers for its lifetime.
class StopSignals {
 public:
  StopSignals() = default;
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  ~StopSignals() { restore(); }
  void install() {
    if (installed_) return;
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    installed_ = true;
  }
  void restore() {
    if (!installed_) return;
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    installed_ = false;
  }

 private:
  bool installed_ = false;
  struct sigaction old_int_ {
  }, old_term_{};
};

// The ranks other than 0 keep going through SIGINT / SIGTERM: rank 0 stops
// the job at a step boundary, with a checkpoint, and the others follow.
class IgnoreStopSignals {
 public:
  IgnoreStopSignals() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ::sigaction(SIGINT, &ign, &old_int_);
    ::sigaction(SIGTERM, &ign, &old_term_);
  }
  ~IgnoreStopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  IgnoreStopSignals(const IgnoreStopSignals&) = delete;
  IgnoreStopSignals& operator=(const IgnoreStopSignals&) = delete;

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

}  // namespace

struct Run::Impl {
  // Identity and place.
  std::string run_id, dir, canonical;
  std::uint64_t seed = 0;
  bool deterministic = false;
  RunOptions opt;
  RunControl control;
  std::int64_t checkpoint_every = 0;
  bool fresh = false;
  FileLock lock, original_lock;  // original_lock: the run a rerun belongs to
  std::string checkpoint;        // the checkpoint to resume from ("" = none)
  std::unique_ptr<StopSignals> signals = std::make_unique<StopSignals>();

  // Ranks: rank 0 records; the others (followers) only keep in step.
  std::shared_ptr<Group> group;
  int rank = 0, world = 1;
  std::string launcher;  // the RankEnv's source
  std::unique_ptr<IgnoreStopSignals> ignore_signals;
  bool follower() const { return rank != 0; }

  // Completed before open(), or a rerun of a completed run.
  bool completed = false;
  json summary = nullptr;
  json rerun_of = nullptr;

  // The attempt.
  json run_json = json::object();
  std::vector<std::string> written;  // files written by write_file
  Clock::time_point opened = Clock::now(), resumed_at = Clock::now(), epoch_started = Clock::now();
  int uncaught = 0;
  bool finished = false, failed = false;

  // The loop.
  torch::nn::Module* model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  NamedGenerators generators;
  json user_state = json::object();
  CheckpointState pos;
  std::int64_t resumed_from = -1;
  LineWriter metrics, trace, dump;
  TensorHashes inputs;

  std::string path(const char* name) const { return join_path(dir, name); }
  double elapsed() const { return pos.elapsed_seconds + seconds_since(resumed_at); }
  bool dumping(std::int64_t step) const {
    return control.dump_from > 0 && step >= control.dump_from;
  }

  void write_status(const std::string& status, const std::string& error = "") {
    run_json["status"] = status;
    run_json["updated"] = now_iso8601();
    json& attempt = run_json["attempts"].back();
    attempt["status"] = status;
    if (status != "running") attempt["ended"] = now_iso8601();
    if (!error.empty()) attempt["error"] = error;
    write_json_atomic(path(layout::kRun), run_json);
  }

  void require_attached(const char* call) const {
    if (completed)
      fail_usage("Run::" + std::string(call) + ": run " + run_id + " is already completed");
    if (model == nullptr) {
      fail_usage("Run::" + std::string(call) + ": call Run::resume(model, optimizer) first");
    }
    if (finished) fail_usage("Run::" + std::string(call) + ": the run is already finished");
  }

  void save_checkpoint() {
    metrics.sync();
    trace.sync();
    pos.metrics_bytes = metrics.size();
    pos.trace_bytes = trace.size();
    pos.metrics_sha256 = metrics.sha256();
    pos.trace_sha256 = trace.sha256();
    CheckpointState st = pos;
    st.elapsed_seconds = elapsed();
    st.user = user_state;
    const std::string bytes = encode_checkpoint(run_id, *model, *optimizer, st, generators);
    const std::string file = path(layout::kCheckpoint);
    // The one before stays as prev.pt, to fall back to should last.pt be damaged.
    if (path_exists(file) && ::rename(file.c_str(), path(layout::kPrevCheckpoint).c_str()) != 0) {
      fail_usage(file + ": cannot keep the previous checkpoint: " + std::strerror(errno));
    }
    if (control.stop_in_checkpoint > 0 && control.stop_in_checkpoint == pos.step) {
      // Die half-way through the write, as a crash would: the temporary file
      // write_file_atomic uses holds half the bytes, and last.pt is untouched.
      write_file_atomic(file + ".tmp." + std::to_string(::getpid()),
                        bytes.substr(0, bytes.size() / 2));
      std::raise(SIGSTOP);
    }
    write_file_atomic(file, bytes);
  }

  // After a SIGINT/SIGTERM: checkpoint here, record it, stop with 130/143.
  void stop_if_signalled() {
    const int sig = g_signal;
    if (sig == 0) return;
    g_signal = 0;
    if (model != nullptr) save_checkpoint();
    const std::string name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    const std::string message = "interrupted by " + name + " at step " + std::to_string(pos.step) +
                                "; run the same command to resume";
    failed = true;  // recorded here; the destructor leaves it as it is
    write_status("interrupted", message);
    signals->restore();
    throw Error(message, sig == SIGINT ? ExitCode::kSigint : ExitCode::kSigterm);
  }

  void perturb() {
    torch::NoGradGuard no_grad;
    for (auto& kv : ordered_state_dict(*model)) {
      if (kv.first != control.perturb_tensor) continue;
      if (control.perturb_nan) {
        kv.second.fill_(std::numeric_limits<float>::quiet_NaN());
      } else {
        kv.second.add_(1e-3);
      }
    }
  }

  // Every rank's weights against rank 0's, at an epoch's end (where rank 0
  // checkpoints, so that its checkpoint is every rank's state). They apply
  // the same combined gradient, so they are equal by construction; a rank
  // that differs fails the run, naming it.
  void check_replicas() {
    const std::vector<std::string> all = group->all_gather_bytes(state_sha256(*model));
    for (std::size_t i = 1; i < all.size(); ++i) {
      if (all[i] == all[0]) continue;
      const std::string message = "rank " + std::to_string(i) +
                                  " holds other weights than rank 0 (state_sha256 " +
                                  all[i].substr(0, 16) + " vs " + all[0].substr(0, 16) + ")";
      if (!follower() && !failed) {
        failed = true;
        write_status("failed", message);
      }
      throw Error(message, ExitCode::kFailure);
    }
  }

  // A fresh directory whose attempt failed before recording anything is
  // removed, so that a bad start leaves nothing behind.
  void remove_fresh_dir() {
    for (const char* f : {layout::kConfig, layout::kEnv, layout::kData, layout::kRun,
                          layout::kMetrics, layout::kTrace}) {
      ::unlink(path(f).c_str());
    }
    for (const auto& f : written) ::unlink(join_path(dir, f).c_str());
    ::rmdir(path(layout::kCheckpoints).c_str());
    ::unlink(path(layout::kLock).c_str());
    ::rmdir(dir.c_str());
  }
};

Run::Run(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Run::Run(Run&&) noexcept = default;
Run& Run::operator=(Run&&) noexcept = default;

Run::~Run() {
  if (impl_ && impl_->control.dump_from > 0) probe_disarm();
  if (!impl_ || impl_->follower() || impl_->completed || impl_->finished || impl_->failed) return;
  try {
    impl_->metrics.sync();
    impl_->trace.sync();
    if (std::uncaught_exceptions() > impl_->uncaught) {
      if (impl_->fresh && impl_->pos.step == 0 && !path_exists(impl_->path(layout::kCheckpoint))) {
        impl_->remove_fresh_dir();
      } else {
        impl_->write_status("failed");
      }
    } else {
      impl_->write_status("interrupted");
    }
  } catch (...) {
    // Nothing more can be recorded; the next attempt marks this one interrupted.
  }
}

Run Run::open(const json& identity, const RunOptions& options) {
  if (!identity.is_object())
    fail_usage("run identity: expected a JSON object, got " + json_line(identity));
  auto impl = std::make_unique<Impl>();
  Impl& r = *impl;
  r.opt = options;
  r.opt.group = nullptr;  // held by r.group
  r.seed = identity_seed(identity);
  const json det = identity.value("deterministic", json(false));
  if (!det.is_boolean()) fail_usage("run identity: 'deterministic' must be true or false");
  r.deterministic = det.get<bool>();
  r.canonical = canonical_json(identity);
  r.run_id = sha1_hex(r.canonical).substr(0, 8);
  r.dir = options.dir.empty() ? join_path(options.output_dir, r.run_id) : options.dir;
  if (options.checkpoint_every < 0 || options.trace_every < 1) {
    fail_usage("Run::open: checkpoint_every must be >= 0 and trace_every >= 1");
  }
  if (options.threads < 0 || !(options.dist_timeout > 0)) {
    fail_usage("Run::open: threads must be >= 0 and dist_timeout > 0");
  }

  // The CPU kernels first: pinning them may re-execute the process, so
  // nothing may be connected or written before (kernels.h).
  const json capability = options.runtime.value("cpu_capability", json("native"));
  pin_cpu_kernels(r.deterministic, capability.is_string() ? capability.get<std::string>() : "");

  // Ranks: connected, and agreed on what they train, before anything is written.
  const RankEnv env = rank_env_from_environment();
  r.group = options.group
                ? options.group
                : (env.world > 1 ? std::shared_ptr<Group>(Group::connect(env, options.dist_timeout))
                                 : nullptr);
  if (options.threads > 0) {
    at::set_num_threads(static_cast<int>(options.threads));
  } else if (r.group && env.local_world > 1) {
    at::set_num_threads(std::max(1, at::get_num_threads() / env.local_world));
  }
  if (!r.group) return open_here(std::move(impl), identity);
  r.rank = r.group->rank();
  r.world = r.group->world();
  r.launcher = env.source.empty() ? "user" : env.source;
  const std::vector<std::string> all = r.group->all_gather_bytes(
      sha256_hex(r.canonical + "\n" + canonical_json(data_identity(options.data))));
  for (std::size_t i = 1; i < all.size(); ++i) {
    if (all[i] != all[0]) {
      fail_usage("rank " + std::to_string(i) +
                 " has another run identity or other data than rank 0 (the identity and the "
                 "data fingerprints must be the same on every rank)");
    }
  }
  if (r.follower()) {
    r.ignore_signals = std::make_unique<IgnoreStopSignals>();
    seed_everything(r.seed, r.deterministic);  // what open() does on rank 0
    std::string h;
    r.group->broadcast_bytes(&h, 0);
    const json j = json::parse(h);
    r.completed = j.at("completed").get<bool>();
    r.summary = j.at("summary");
    r.dir = j.at("dir").get<std::string>();
    return Run(std::move(impl));
  }
  std::shared_ptr<Group> group = r.group;
  Run run = open_here(std::move(impl), identity);
  std::string h =
      json{{"completed", run.completed()}, {"summary", run.summary()}, {"dir", run.dir()}}.dump();
  group->broadcast_bytes(&h, 0);
  if (!run.completed()) {
    run.annotate(
        "ranks",
        {{"world", run.world()}, {"launcher", run.impl_->launcher}, {"store", group->address()}});
  }
  return run;
}

Run Run::open_here(std::unique_ptr<Impl> impl, const json& identity) {
  Impl& r = *impl;
  const RunOptions& options = r.opt;
  r.control = control_from_environment();
  r.checkpoint_every =
      r.control.checkpoint_every > 0 ? r.control.checkpoint_every : options.checkpoint_every;

  r.fresh = !path_exists(r.dir);
  // From the first byte written to the run directory, SIGINT/SIGTERM are
  // remembered and stop the run cleanly at its first step: a signal must
  // not end the process half-way through writing config.json, env.json,
  // data.json and run.json (the default action would).
  r.signals->install();
  make_dirs(r.dir);
  if (!r.lock.try_lock(r.path(layout::kLock))) {
    if (!options.wait_for_lock) {
      fail_usage(r.dir + ": another process is training this run; wait for it to finish");
    }
    std::cerr << "ml-train: run " << r.run_id << " is being trained by another process; waiting\n";
    r.signals->restore();  // waiting writes nothing: Ctrl-C ends it at once
    r.lock.lock(r.path(layout::kLock));
    r.signals->install();
  }
  const std::string config_path = r.path(layout::kConfig);
  if (path_exists(config_path) && read_file(config_path) != r.canonical) {
    fail_usage(config_path + ": holds a different config than run " + r.run_id +
               " (edited by hand?); move the directory away");
  }
  json run_json =
      path_exists(r.path(layout::kRun)) ? read_run_file(r.path(layout::kRun)) : json::object();
  const bool has_result =
      path_exists(r.path(layout::kSummary)) && path_exists(r.path(layout::kModel));
  if (run_json.value("status", "") == "completed" || has_result) {
    if (!has_result) {
      fail_usage(r.dir + ": run.json says completed but " + layout::kSummary + " or " +
                 layout::kModel + " is missing; move the directory away");
    }
    json summary = read_summary_file(r.path(layout::kSummary));
    // A completed result is only reported when it is intact: the weights pass
    // their checksum and are the ones summary.json describes.
    const std::string weights = verify_weights_file(r.path(layout::kModel));
    if (weights != summary.value("state_sha256", weights)) {
      fail_usage(r.path(layout::kModel) + ": holds weights with state_sha256 " +
                 weights.substr(0, 16) + " but summary.json records " +
                 summary["state_sha256"].get<std::string>().substr(0, 16) +
                 "; the run directory is damaged");
    }
    if (summary.value("run_id", r.run_id) != r.run_id) {
      fail_usage(r.path(layout::kSummary) + ": records run " +
                 summary["run_id"].get<std::string>() + " but config.json is run " + r.run_id +
                 " (edited by hand?); move the directory away");
    }
    r.signals->restore();  // nothing to train, nothing more to write
    if (!options.rerun) {
      r.completed = true;
      r.summary = summary;
      return Run(std::move(impl));
    }
    auto again = std::make_unique<Impl>();
    again->opt = options;
    again->opt.rerun = false;
    again->seed = r.seed;
    again->deterministic = r.deterministic;
    again->canonical = r.canonical;
    again->run_id = r.run_id;
    again->dir = claim_numbered_dir(r.path(layout::kReruns));
    again->group = r.group;
    again->rank = r.rank;
    again->world = r.world;
    again->launcher = r.launcher;
    Run rerun = open_here(std::move(again), identity);
    rerun.impl_->rerun_of = summary;
    rerun.impl_->original_lock = std::move(r.lock);
    return rerun;
  }

  // Temporary files left by a process killed while writing are garbage.
  remove_temp_files(r.dir);
  remove_temp_files(r.path(layout::kCheckpoints));
  // The checkpoint to resume from: last.pt, or prev.pt when last.pt is
  // missing (killed between the two) or damaged. Integrity first: nothing is
  // written for a bad one.
  std::string damaged;
  for (const char* name : {layout::kCheckpoint, layout::kPrevCheckpoint}) {
    if (!path_exists(r.path(name))) continue;
    try {
      const std::int64_t step = check_checkpoint(r.path(name), r.run_id);
      r.checkpoint = r.path(name);
      if (!damaged.empty()) {
        std::cerr << "ml-train: warning: " << damaged << "; resuming from " << r.checkpoint
                  << " (step " << step << ") instead\n";
      }
      break;
    } catch (const Error& e) {
      if (damaged.empty()) damaged = e.what();
    }
  }
  if (r.checkpoint.empty() && !damaged.empty()) fail_usage(damaged);
  if (!r.checkpoint.empty()) {
    const std::string data_path = r.path(layout::kData);
    if (!options.data.is_null() && path_exists(data_path) &&
        data_identity(read_data_file(data_path)) != data_identity(options.data)) {
      fail_usage(data_path +
                 ": the data files changed since this run started; cannot resume "
                 "(restore them, or train into a new output_dir)");
    }
  }

  // The environment as given, before seeding changes anything in it.
  const json env = environment_manifest();
  const SeedRecord seeding = seed_everything(r.seed, r.deterministic);

  // Everything above only read; from here on the run directory is written.
  write_file_atomic(config_path, r.canonical);
  write_json_atomic(r.path(layout::kEnv), env);
  if (!options.data.is_null()) write_json_atomic(r.path(layout::kData), options.data);
  make_dirs(r.path(layout::kCheckpoints));
  if (!run_json.contains("created")) run_json["created"] = now_iso8601();
  run_json["run_id"] = r.run_id;
  json command = json::array();
  for (const auto& arg : options.command_line) command.push_back(json_text_or_bytes(arg));
  run_json["command"] = command;
  run_json["runtime"] = options.runtime;
  run_json["seeding"] = seeding.to_json();
  run_json["ml_train_version"] = version_string();
  run_json["trainer"] = options.trainer.empty() ? json(nullptr) : json(options.trainer);
  if (!run_json.contains("attempts") || !run_json["attempts"].is_array()) {
    run_json["attempts"] = json::array();
  }
  for (auto& a : run_json["attempts"]) {
    if (a.is_object() && a.value("status", "") == "running") a["status"] = "interrupted";
  }
  json attempt = {{"started", now_iso8601()},
                  {"pid", static_cast<std::int64_t>(::getpid())},
                  {"command", command},
                  {"resumed_from_step", -1},
                  {"env_sha256", sha256_hex(json_line(env))}};
  if (!r.control.empty()) attempt["control"] = r.control.to_json();
  run_json["attempts"].push_back(attempt);
  r.run_json = run_json;
  r.write_status("running");
  if (r.control.perturb_step > 0) {
    std::cerr << "ml-train: self-test: " << kControlVariable << " perturbs '"
              << r.control.perturb_tensor << "' after step " << r.control.perturb_step
              << "; this run is deliberately wrong\n";
  }
  r.uncaught = std::uncaught_exceptions();
  return Run(std::move(impl));
}

const std::string& Run::id() const { return impl_->run_id; }
const std::string& Run::dir() const { return impl_->dir; }
std::uint64_t Run::seed() const { return impl_->seed; }
bool Run::deterministic() const { return impl_->deterministic; }
bool Run::completed() const { return impl_->completed; }
int Run::rank() const { return impl_->rank; }
int Run::world() const { return impl_->world; }
bool Run::leader() const { return impl_->rank == 0; }
Group* Run::group() const { return impl_->group.get(); }
const json& Run::summary() const { return impl_->summary; }
const json& Run::rerun_of() const { return impl_->rerun_of; }

void Run::write_file(const std::string& name, const std::string& bytes) {
  if (impl_->follower()) return;
  if (impl_->completed)
    fail_usage("Run::write_file: run " + impl_->run_id + " is already completed");
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
    fail_usage("Run::write_file: '" + name + "' is not a plain file name");
  }
  write_file_atomic(join_path(impl_->dir, name), bytes);
  impl_->written.push_back(name);
}

void Run::annotate(const std::string& key, const json& value) {
  if (impl_->follower()) return;
  if (impl_->completed) fail_usage("Run::annotate: run " + impl_->run_id + " is already completed");
  impl_->run_json[key] = value;
  write_json_atomic(impl_->path(layout::kRun), impl_->run_json);
}

void Run::track_generator(const std::string& name, const at::Generator& generator) {
  if (impl_->model != nullptr) fail_usage("Run::track_generator: call it before Run::resume");
  impl_->generators.emplace_back(name, generator);
}

json& Run::state() { return impl_->user_state; }

RunPosition Run::resume(torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  Impl& r = *impl_;
  if (r.completed) fail_usage("Run::resume: run " + r.run_id + " is already completed");
  if (r.model != nullptr) fail_usage("Run::resume: called twice");
  if (r.follower()) {
    // Rank 0's starting state, fresh or from its checkpoint.
    std::string bytes;
    r.group->broadcast_bytes(&bytes, 0);
    load_checkpoint_bytes(std::move(bytes), "rank 0's starting state", r.run_id, model, optimizer,
                          &r.pos, r.generators);
    std::string from;
    r.group->broadcast_bytes(&from, 0);
    r.resumed_from = std::stoll(from);
    r.user_state = r.pos.user;
    r.model = &model;
    r.optimizer = &optimizer;
    return position();
  }
  if (r.control.perturb_step > 0) {
    std::string names;
    bool found = false;
    for (const auto& kv : ordered_state_dict(model)) {
      found = found || kv.first == r.control.perturb_tensor;
      names += (names.empty() ? "" : ", ") + kv.first;
    }
    if (!found) {
      fail_usage(std::string(kControlVariable) + ": perturb.tensor '" + r.control.perturb_tensor +
                 "' is not a tensor of the model (" + names + ")");
    }
  }
  if (!r.checkpoint.empty()) {
    load_checkpoint(r.checkpoint, r.run_id, model, optimizer, &r.pos, r.generators);
    const CheckpointState& p = r.pos;
    const std::int64_t epochs = r.opt.epochs, spe = r.opt.steps_per_epoch;
    if ((epochs > 0 && (p.epoch > epochs || (p.epoch == epochs && p.batch > 0))) ||
        (spe > 0 && (p.batch > spe || p.step != p.epoch * spe + p.batch))) {
      fail_usage(r.checkpoint + ": position (epoch " + std::to_string(p.epoch) + ", batch " +
                 std::to_string(p.batch) + ", step " + std::to_string(p.step) +
                 ") does not fit this run (" + std::to_string(epochs) + " epochs of " +
                 std::to_string(spe) + " steps)");
    }
    r.user_state = r.pos.user;
    r.resumed_from = r.pos.step;
    if (r.checkpoint == r.path(layout::kPrevCheckpoint)) {
      // last.pt is damaged: drop it, so that the next checkpoint does not
      // push it over the good one.
      ::unlink(r.path(layout::kCheckpoint).c_str());
    }
  }
  r.model = &model;
  r.optimizer = &optimizer;
  r.metrics.open(r.path(layout::kMetrics), r.pos.metrics_bytes, r.pos.metrics_sha256);
  r.trace.open(r.path(layout::kTrace), r.pos.trace_bytes, r.pos.trace_sha256);
  r.run_json["attempts"].back()["resumed_from_step"] = r.resumed_from;
  write_json_atomic(r.path(layout::kRun), r.run_json);
  if (r.control.dump_from > 0) {
    r.dump.open(r.control.dump_path, 0);
    if (r.dumping(r.pos.step + 1)) {
      r.dump.append_line(json_line(dump_line(r.pos.step, "param", param_hashes(model))));
      probe_arm();
    }
  }
  if (r.group) {
    // Every rank starts from this state.
    CheckpointState st = r.pos;
    st.user = r.user_state;
    std::string bytes = encode_checkpoint(r.run_id, model, optimizer, st, r.generators);
    r.group->broadcast_bytes(&bytes, 0);
    std::string from = std::to_string(r.resumed_from);
    r.group->broadcast_bytes(&from, 0);
  }
  r.resumed_at = Clock::now();
  r.epoch_started = r.resumed_at;
  return position();
}

RunPosition Run::position() const {
  RunPosition p;
  p.epoch = impl_->pos.epoch;
  p.batch = impl_->pos.batch;
  p.step = impl_->pos.step;
  p.resumed_from_step = impl_->resumed_from;
  return p;
}

void Run::record_input(const std::string& name, const at::Tensor& tensor) {
  if (impl_->follower()) return;
  if (impl_->dumping(impl_->pos.step + 1)) impl_->inputs.emplace_back(name, tensor_sha256(tensor));
}

void Run::record_step(float loss, double lr) {
  Impl& r = *impl_;
  r.require_attached("record_step");
  const std::int64_t step = r.pos.step + 1;
  if (!std::isfinite(loss)) {
    // (Every rank holds the same combined loss: all of them stop here.)
    fail("training diverged: loss is " + std::string(std::isnan(loss) ? "nan" : "inf") +
         " at step " + std::to_string(step) + " (epoch " + std::to_string(r.pos.epoch + 1) +
         ", batch " + std::to_string(r.pos.batch + 1) + ")" +
         (r.opt.divergence_hint.empty() ? "" : "; " + r.opt.divergence_hint));
  }
  if (r.follower()) {
    r.pos.step = step;
    r.pos.batch += 1;
    return;
  }
  if (step == r.control.perturb_step) r.perturb();
  r.pos.step = step;
  r.pos.batch += 1;
  json line = {{"step", step},
               {"epoch", r.pos.epoch + 1},
               {"batch", r.pos.batch},
               {"loss", float_bits(loss)}};
  if (std::isfinite(lr)) line["lr"] = lr;
  if (step % r.opt.trace_every == 0) line["state"] = state_hash(*r.model);
  r.trace.append_line(json_line(line));
  if (r.dumping(step)) {
    if (!r.inputs.empty()) r.dump.append_line(json_line(dump_line(step, "input", r.inputs)));
    const ProbeRecords modules = probe_disarm();
    if (!modules.forward.empty()) {
      r.dump.append_line(json_line(dump_line(step, "forward", modules.forward)));
    }
    if (!modules.backward.empty()) {
      r.dump.append_line(json_line(dump_line(step, "backward", modules.backward)));
    }
    r.dump.append_line(json_line(dump_line(step, "grad", grad_hashes(*r.model))));
    r.dump.append_line(
        json_line(dump_line(step, "optimizer", optimizer_hashes(*r.model, *r.optimizer))));
    r.dump.append_line(json_line(dump_line(step, "param", param_hashes(*r.model))));
  }
  r.inputs.clear();
  if (r.dumping(step + 1)) probe_arm();  // the next step's module outputs
  // (At an epoch's last step the end-of-epoch checkpoint follows.)
  const bool epoch_end = r.opt.steps_per_epoch > 0 && r.pos.batch == r.opt.steps_per_epoch;
  if (r.checkpoint_every > 0 && step % r.checkpoint_every == 0 && !epoch_end) r.save_checkpoint();
  if (step == r.control.stop_at) {
    r.trace.sync();
    r.metrics.sync();
    r.dump.sync();
    std::raise(SIGSTOP);  // the supervisor kills us here
  }
  r.stop_if_signalled();
}

void Run::record_epoch(const json& metrics) {
  Impl& r = *impl_;
  r.require_attached("record_epoch");
  if (!metrics.is_object()) fail_usage("Run::record_epoch: metrics must be a JSON object");
  if (r.group) r.check_replicas();
  if (r.follower()) {
    r.pos.epoch += 1;
    r.pos.batch = 0;
    return;
  }
  json m = metrics;
  m["epoch"] = r.pos.epoch + 1;
  m["step"] = r.pos.step;
  if (!m.contains("seconds")) m["seconds"] = seconds_since(r.epoch_started);
  r.metrics.append_line(json_line(m));
  // The end-of-epoch checkpoint points at the start of the next epoch.
  r.pos.epoch += 1;
  r.pos.batch = 0;
  r.save_checkpoint();
  r.epoch_started = Clock::now();
  r.stop_if_signalled();
}

void Run::checkpoint() {
  impl_->require_attached("checkpoint");
  if (impl_->follower()) return;
  impl_->save_checkpoint();
}

json Run::finish(const json& final_metrics) {
  Impl& r = *impl_;
  r.require_attached("finish");
  if (!final_metrics.is_object()) fail_usage("Run::finish: final metrics must be a JSON object");
  if (r.follower()) {
    std::string h;
    r.group->broadcast_bytes(&h, 0);
    r.summary = json::parse(h);
    r.finished = true;
    return r.summary;
  }
  if (r.control.perturb_step > r.pos.step) {
    fail_usage(std::string(kControlVariable) + ": perturb.step " +
               std::to_string(r.control.perturb_step) + " was never reached (the run took " +
               std::to_string(r.pos.step) + " steps)");
  }
  r.metrics.sync();
  r.trace.sync();
  save_weights(r.path(layout::kModel), *r.model);
  const std::string sha = state_sha256(*r.model);
  json summary = final_metrics;
  summary["run_id"] = r.run_id;
  summary["state_hash"] = sha.substr(0, 16);
  summary["state_sha256"] = sha;
  summary["steps"] = r.pos.step;
  summary["epochs"] = r.pos.epoch;
  summary["train_seconds"] = r.elapsed();
  summary["wall_seconds"] = seconds_since(r.opened);
  summary["model_file"] = layout::kModel;
  write_json_atomic(r.path(layout::kSummary), summary);
  r.finished = true;
  r.write_status("completed");
  r.summary = summary;
  if (r.group) {
    std::string h = summary.dump();
    r.group->broadcast_bytes(&h, 0);
  }
  return summary;
}

std::string resolve_device(const std::string& spec, int local_rank) {
  if (spec == "cpu") return "cpu";
  const bool cuda = torch::cuda::is_available();
  const auto count = static_cast<std::int64_t>(cuda ? torch::cuda::device_count() : 0);
  if (spec == "auto") return cuda ? "cuda:" + std::to_string(local_rank % count) : "cpu";
  if (spec != "cuda" && spec.rfind("cuda:", 0) != 0) {
    fail_usage("key 'runtime.device': \"" + spec +
               "\" is not a device (expected cpu, cuda, cuda:N or auto)");
  }
  if (!cuda) {
    fail_usage("key 'runtime.device': " + spec +
               ", but this LibTorch has no CUDA or sees no GPU (use cpu or auto)");
  }
  const std::int64_t index = spec == "cuda" ? local_rank : std::stoll(spec.substr(5));
  if (index >= count) {
    fail_usage("key 'runtime.device': cuda:" + std::to_string(index) + ", but LibTorch sees " +
               std::to_string(count) + " GPU" + (count == 1 ? "" : "s"));
  }
  return "cuda:" + std::to_string(index);
}

RunOptions run_options(const Settings& settings) {
  RunOptions o;
  const json& all = settings.json();
  if (!all.contains("runtime")) return o;
  const json& rt = all.at("runtime");
  o.runtime = rt;
  if (rt.contains("output_dir")) o.output_dir = rt.at("output_dir").get<std::string>();
  if (rt.contains("checkpoint_every"))
    o.checkpoint_every = rt.at("checkpoint_every").get<std::int64_t>();
  if (rt.contains("trace_every")) o.trace_every = rt.at("trace_every").get<std::int64_t>();
  if (rt.contains("threads")) o.threads = rt.at("threads").get<std::int64_t>();
  if (rt.contains("dist_timeout")) o.dist_timeout = rt.at("dist_timeout").get<double>();
  return o;
}

void Run::fail(const std::string& message) {
  if (!impl_->follower() && !impl_->completed && !impl_->failed) {
    impl_->failed = true;
    impl_->write_status("failed", message);
  }
  throw Error(message, ExitCode::kFailure);
}

}  // namespace mltrain
