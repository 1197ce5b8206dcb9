// The built-in trainer as a recipe: data, run, model, the loop, the result.
// It is a client of the public API like any user loop (examples/custom_loop,
// examples/dist_loop): everything a run leaves on disk goes through the Run
// API (run.h), the ranks through Run and GradShards (shards.h); printing is
// printer.h's, progress progress.h's.
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "mltrain/data.h"
#include "mltrain/error.h"
#include "mltrain/files.h"
#include "mltrain/infer.h"
#include "mltrain/layout.h"
#include "mltrain/loader.h"
#include "mltrain/models.h"
#include "mltrain/ranks.h"
#include "mltrain/run.h"
#include "mltrain/shards.h"
#include "mltrain/state_hash.h"
#include "mltrain/train.h"
#include "train/memory.h"
#include "train/optim.h"
#include "train/printer.h"
#include "train/progress.h"
#include "train/step.h"

namespace mltrain {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The ranks a launcher started must fit the config: at least one gradient
// shard per rank (training.grad_shards is part of the identity; the number
// of ranks is not).
void check_ranks(const Config& cfg) {
  const RankEnv ranks = rank_env_from_environment();
  if (ranks.world <= 1) return;
  if (cfg.runtime.nproc > 1 && cfg.runtime.nproc != ranks.world) {
    fail_usage("key 'runtime.nproc': " + std::to_string(cfg.runtime.nproc) + " but " +
               ranks.source + " started " + std::to_string(ranks.world) + " ranks");
  }
  if (ranks.world > cfg.training.grad_shards) {
    fail_usage("key 'training.grad_shards': " + std::to_string(cfg.training.grad_shards) + " for " +
               std::to_string(ranks.world) + " ranks (" + ranks.source +
               "); each rank computes whole shards, so set it to at least " +
               std::to_string(ranks.world) + " (it is part of the run's identity)");
  }
}

// The data, read once: with ranks and the token cache, rank 0 prepares it
// and the others then map rank 0's cache entry.
PreparedData prepare_on_ranks(const Config& cfg, const InitFrom& parent, Group* group) {
  const bool first = group == nullptr || group->rank() == 0;
  const bool wait = group != nullptr && cfg.runtime.token_cache;
  if (wait && !first) group->barrier();
  PreparedData data =
      prepare_data(cfg, parent.has_vocab ? &parent.vocab : nullptr,
                   parent.labels.empty() ? nullptr : &parent.labels,
                   parent.tokenizer_model.empty() ? nullptr : &parent.tokenizer_model);
  if (wait && first) group->barrier();
  return data;
}

// A run refused after its data was read (check_memory) leaves nothing
// behind where nothing was before: the token cache entry it made, and the
// cache and output directories when they are empty (rmdir, never a tree).
void forget_new_output(const Config& cfg, const PreparedData& data, bool output_existed) {
  if (output_existed) return;
  const json entry = data.fingerprint.value("token_cache", json(nullptr));
  if (entry.is_object() && !entry.value("hit", true) && entry.value("file", json()).is_string()) {
    const std::string file = entry.at("file").get<std::string>();
    ::unlink(file.c_str());
    std::string dir = file.substr(0, file.rfind('/'));
    for (int up = 0; up < 2 && !dir.empty(); ++up) {  // tokens/, then .cache/
      ::rmdir(dir.c_str());
      dir = dir.substr(0, dir.rfind('/'));
    }
  }
  ::rmdir(cfg.runtime.output_dir.c_str());
}

RunOptions run_options(const Config& cfg, const TrainOptions& opt, const PreparedData& data,
                       std::shared_ptr<Group> group) {
  RunOptions ro;
  ro.wait_for_lock = opt.wait;
  ro.epochs = cfg.training.epochs;
  ro.steps_per_epoch = (data.train.size() + cfg.training.batch_size - 1) / cfg.training.batch_size;
  ro.output_dir = cfg.runtime.output_dir;
  ro.dir = opt.run_dir;
  ro.rerun = opt.rerun;
  ro.checkpoint_every = cfg.runtime.checkpoint_every;
  ro.trace_every = cfg.runtime.trace_every;
  ro.command_line = opt.command_line;
  ro.runtime = cfg.to_json().at("runtime");
  ro.data = data.fingerprint;
  ro.trainer = "ml-train train";
  ro.divergence_hint = "lower training.lr or set training.grad_clip";
  ro.group = std::move(group);
  ro.dist_timeout = cfg.runtime.dist_timeout;
  ro.threads = cfg.runtime.threads;
  return ro;
}

LoaderOptions train_loader_options(const Config& cfg, const Run& run) {
  LoaderOptions lo;
  lo.batch_size = cfg.training.batch_size;
  lo.shuffle = true;
  lo.seed = cfg.seed;
  lo.num_workers = cfg.runtime.num_workers;
  lo.token_dropout = cfg.training.token_dropout;
  lo.layout = layout_for(cfg.model.arch);
  lo.shards = cfg.training.grad_shards;
  lo.rank = run.rank();
  lo.world = run.world();
  return lo;
}

// The artefacts a later `predict` or `init_from` needs, and where the
// starting weights came from.
void keep_artefacts(Run& run, const PreparedData& data) {
  run.write_file(layout::kVocab, data.vocab.to_text());
  if (!data.tokenizer_model.empty()) run.write_file(layout::kTokenizer, data.tokenizer_model);
}

void start_from(const InitFrom& parent, ClassifierImpl& model, Run& run) {
  load_init_weights(parent, model);
  run.annotate("init_from",
               {{"path", parent.path},
                {"model_file", parent.model_file},
                {"run_id", parent.run_id.empty() ? json(nullptr) : json(parent.run_id)},
                {"state_hash", state_hash(model)}});
}

RunResult result_of(const Run& run, const json& summary) {
  RunResult r;
  r.run_id = run.id();
  r.run_dir = run.dir();
  r.summary = summary;
  r.state_hash = summary.value("state_hash", "");
  r.state_sha256 = summary.value("state_sha256", "");
  r.steps = summary.value("steps", static_cast<std::int64_t>(0));
  return r;
}

json split_metrics(const EvalResult& r) {
  return {{"loss", r.loss}, {"acc", r.acc}, {"f1", r.f1}, {"n", r.n}};
}

// The running train loss of an epoch lives in the Run's state(), so that it
// travels in the checkpoints.
json fresh_epoch_state() { return {{"epoch_loss_sum", 0.0}, {"epoch_loss_count", 0}}; }

// The loop: one object for what every epoch shares.
class Loop {
 public:
  Loop(const Config& cfg, const PreparedData& data, Run& run, ClassifierImpl& model,
       torch::optim::Optimizer& optimizer, Printer& printer)
      : cfg_(cfg),
        data_(data),
        run_(run),
        model_(model),
        optimizer_(optimizer),
        printer_(printer),
        classes_(static_cast<std::int64_t>(data.label_names.size())),
        loader_(data.train, train_loader_options(cfg, run)),
        shards_(run, model.parameters(), cfg.training.grad_shards, model.sparse_parameters()),
        total_steps_(loader_.num_batches() * cfg.training.epochs) {}

  // Every epoch from `start` on: its steps, its evaluation, its record.
  void run_epochs(const RunPosition& start, std::ostream* log) {
    Progress progress(log, cfg_.runtime.progress, cfg_.runtime.log_every, total_steps_,
                      cfg_.training.epochs, loader_.num_batches(), start.step);
    for (std::int64_t epoch = start.epoch; epoch < cfg_.training.epochs; ++epoch) {
      const auto started = Clock::now();
      const double gather = train_epoch(epoch, epoch == start.epoch ? start.batch : 0, &progress);
      const double train_seconds = seconds_since(started);
      const auto eval_started = Clock::now();
      const EvalResult val = evaluate(model_, data_.val, cfg_, classes_, run_.group());
      record_epoch(epoch, val, started, train_seconds, seconds_since(eval_started), gather);
    }
  }

  // The final evaluation and the run's summary.
  json finish() {
    const EvalResult val = evaluate(model_, data_.val, cfg_, classes_, run_.group());
    const EvalResult test = evaluate(model_, data_.test, cfg_, classes_, run_.group());
    return run_.finish({{"val", split_metrics(val)},
                        {"test", data_.test.size() ? split_metrics(test) : json(nullptr)},
                        {"data_seconds", data_.seconds}});
  }

 private:
  double lr_at(std::int64_t step) const {
    return learning_rate_at(cfg_.training, step - 1, total_steps_, loader_.num_batches());
  }

  // The steps of one epoch from batch `first`; returns the seconds spent
  // gathering shard gradients from the other ranks.
  double train_epoch(std::int64_t epoch, std::int64_t first, Progress* progress) {
    double gather = 0;
    Batch batch;
    loader_.start_epoch(epoch, first);
    while (loader_.next(&batch)) {
      const std::int64_t step = run_.position().step + 1;
      const double lr = lr_at(step);
      set_lr(optimizer_, lr);
      const float loss =
          train_step(model_, optimizer_, shards_, batch, cfg_.seed, step, cfg_.training.grad_clip);
      gather += shards_.gather_seconds();
      // With shards, the inputs of shard 0 (always on rank 0).
      const Batch& in = batch.parts.empty() ? batch : batch.parts.front();
      run_.record_input("batch.tokens", in.tokens);
      run_.record_input("batch.labels", in.labels);
      json& st = run_.state();
      st["epoch_loss_sum"] = st["epoch_loss_sum"].get<double>() + static_cast<double>(loss);
      st["epoch_loss_count"] = st["epoch_loss_count"].get<std::int64_t>() + 1;
      run_.record_step(loss, lr);
      progress->step(step, epoch, batch.index, loss, batch.size());
    }
    progress->end_epoch();
    return gather;
  }

  void record_epoch(std::int64_t epoch, const EvalResult& val, Clock::time_point started,
                    double train_seconds, double eval_seconds, double gather_seconds) {
    const std::int64_t step = run_.position().step;
    if (!std::isfinite(val.loss)) {
      run_.fail("training diverged: validation loss is " +
                std::string(std::isnan(val.loss) ? "nan" : "inf") + " after epoch " +
                std::to_string(epoch + 1) + " (step " + std::to_string(step) +
                "); lower training.lr or set training.grad_clip");
    }
    json& st = run_.state();
    const auto count = st["epoch_loss_count"].get<std::int64_t>();
    const double train_loss =
        count ? st["epoch_loss_sum"].get<double>() / static_cast<double>(count) : 0;
    st = fresh_epoch_state();  // what the next epoch's checkpoint starts from
    json metrics = {{"train_loss", train_loss},
                    {"val_loss", val.loss},
                    {"val_acc", val.acc},
                    {"val_f1", val.f1},
                    {"lr", lr_at(step)},
                    {"seconds", seconds_since(started)},
                    {"train_seconds", train_seconds},
                    {"eval_seconds", eval_seconds}};
    if (run_.group() != nullptr) metrics["comm_seconds"] = gather_seconds;
    run_.record_epoch(metrics);
    printer_.epoch(epoch, cfg_.training.epochs, metrics);
  }

  const Config& cfg_;
  const PreparedData& data_;
  Run& run_;
  ClassifierImpl& model_;
  torch::optim::Optimizer& optimizer_;
  Printer& printer_;
  const std::int64_t classes_;
  DeterministicLoader loader_;
  GradShards shards_;
  const std::int64_t total_steps_;
};

}  // namespace

RunResult train(const Config& cfg, const TrainOptions& opt) {
  // Inputs first: bad ranks, a bad parent, bad data or a run this machine
  // cannot hold fail before any directory exists.
  check_ranks(cfg);
  const torch::Device device(
      resolve_device(cfg.runtime.device, rank_env_from_environment().local_rank));
  const std::shared_ptr<Group> ranks = connect_ranks(cfg.runtime.dist_timeout);
  Printer printer(ranks == nullptr || ranks->rank() == 0 ? opt.out : nullptr);
  const InitFrom parent =
      cfg.model.init_from.empty() ? InitFrom{} : resolve_init_from(cfg.model.init_from);
  const bool output_existed = path_exists(cfg.runtime.output_dir);
  const PreparedData data = prepare_on_ranks(cfg, parent, ranks.get());
  try {
    check_memory(cfg, data_shape(data));
  } catch (const Error&) {
    forget_new_output(cfg, data, output_existed);
    throw;
  }

  Run run = Run::open(cfg.identity_json(), run_options(cfg, opt, data, ranks));
  if (run.completed()) {
    RunResult r = result_of(run, run.summary());
    r.already_completed = true;
    printer.already_completed(r);
    return r;
  }
  keep_artefacts(run, data);

  // The model is built after Run::open has seeded the generators.
  std::shared_ptr<ClassifierImpl> model =
      make_classifier(cfg, data.vocab.size(), static_cast<std::int64_t>(data.label_names.size()));
  model->to(device);  // initialised on the CPU (its generator), trained on the device
  if (!device.is_cpu()) run.annotate("device", device.str());
  if (!parent.path.empty()) start_from(parent, *model, run);
  model->train();
  auto optimizer = make_optimizer(cfg.training, model->parameters());
  Loop loop(cfg, data, run, *model, *optimizer, printer);
  run.state() = fresh_epoch_state();
  const RunPosition start = run.resume(*model, *optimizer);
  printer.started(run, cfg, data, start);

  RunResult r;
  try {
    loop.run_epochs(start, run.leader() ? opt.log : nullptr);
    r = result_of(run, loop.finish());
  } catch (const c10::Error& e) {
    const std::string op = nondeterministic_op(e.what());
    if (op.empty()) throw;
    run.fail("op " + op + " has no deterministic kernel on " + device.str() +
             " and deterministic is true; train this model with deterministic=false, or on "
             "another device");
  }
  r.resumed_from_step = start.resumed_from_step;
  if (!run.rerun_of().is_null()) {
    r.original_state_hash = run.rerun_of().value("state_hash", "");
    r.rerun_matches = r.state_sha256 == run.rerun_of().value("state_sha256", "");
  }
  printer.finished(r, r.summary.value("test", json(nullptr)));
  return r;
}

}  // namespace mltrain
