// The built-in trainer as a recipe: data, run, model, the loop, the result.
// Everything a run leaves on disk goes through the Run API (run.h), exactly
// as in a user's own loop (examples/custom_loop).
#include <signal.h>
#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>

#include "core/format.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/json_io.h"
#include "mltrain/canonical_json.h"
#include "mltrain/data.h"
#include "mltrain/error.h"
#include "mltrain/loader.h"
#include "mltrain/models.h"
#include "mltrain/run.h"
#include "mltrain/seed.h"
#include "mltrain/state_hash.h"
#include "mltrain/train.h"
#include "run/checkpoint.h"
#include "run/layout.h"
#include "run/record_files.h"
#include "train/dist.h"
#include "train/memory.h"
#include "train/optim.h"
#include "train/progress.h"
#include "train/step.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

double seconds_since_steady(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// model.init_from: a run directory (its model.pt, vocabulary and labels) or
// a model file. Checked before the run directory is touched.
struct Parent {
  std::string path, model_file, run_id;
  std::string state_sha256;  // what the parent's summary.json records, if any
  bool has_vocab = false;
  Vocab vocab;
  std::string tokenizer_model;  // its SentencePiece model, if it has one
  std::vector<std::string> labels;
};

Parent resolve_parent(const std::string& init_from) {
  Parent p;
  p.path = init_from;
  if (is_directory(init_from)) {
    p.model_file = join_path(init_from, layout::kModel);
    if (!path_exists(p.model_file)) {
      fail_usage("key 'model.init_from': " + init_from + " has no " + layout::kModel +
                 " (is it a completed run?)");
    }
    const std::string vocab_path = join_path(init_from, layout::kVocab);
    if (path_exists(vocab_path)) {
      p.vocab = Vocab::from_text(read_file(vocab_path), vocab_path);
      p.has_vocab = true;
    }
    const std::string tokenizer_path = join_path(init_from, layout::kTokenizer);
    if (path_exists(tokenizer_path)) p.tokenizer_model = read_file(tokenizer_path);
    const std::string data_path = join_path(init_from, layout::kData);
    if (path_exists(data_path)) {
      const json data = read_data_file(data_path);  // labels: a list of strings
      for (const auto& l : data.value("labels", json::array())) p.labels.push_back(l);
    }
    const std::string cfg_path = join_path(init_from, layout::kConfig);
    if (path_exists(cfg_path)) p.run_id = sha1_hex(read_file(cfg_path)).substr(0, 8);
    const std::string summary_path = join_path(init_from, layout::kSummary);
    if (path_exists(summary_path)) {
      p.state_sha256 = read_summary_file(summary_path).value("state_sha256", "");
    }
  } else if (!path_exists(init_from)) {
    fail_usage("key 'model.init_from': " + init_from + " not found");
  } else {
    p.model_file = init_from;
  }
  check_weights_file(p.model_file);
  return p;
}

RunOptions run_options(const Config& cfg, const TrainOptions& opt, const PreparedData& data) {
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
  return ro;
}

json split_metrics(const EvalResult& r) {
  return {{"loss", r.loss}, {"acc", r.acc}, {"f1", r.f1}, {"n", r.n}};
}

RunResult completed_result(const Run& run) {
  RunResult r;
  r.run_id = run.id();
  r.run_dir = run.dir();
  r.already_completed = true;
  r.summary = run.summary();
  r.state_hash = r.summary.value("state_hash", "");
  r.state_sha256 = r.summary.value("state_sha256", "");
  r.steps = r.summary.value("steps", 0);
  return r;
}

// Model and optimizer state as bytes (rank 0 -> the other ranks).
std::string state_bytes(torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive ar, m, o;
  model.save(m);
  optimizer.save(o);
  ar.write("model", m);
  ar.write("optimizer", o);
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}

void load_state_bytes(const std::string& bytes, torch::nn::Module& model,
                      torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive ar, m, o;
  ar.load_from(bytes.data(), bytes.size());
  ar.read("model", m);
  ar.read("optimizer", o);
  model.load(m);
  optimizer.load(o);
}

// The ranks other than 0 keep training through SIGINT / SIGTERM: rank 0
// stops the job at a step boundary, with a checkpoint, and they follow.
class IgnoreStopSignals {
 public:
  explicit IgnoreStopSignals(bool on) : on_(on) {
    if (!on_) return;
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ::sigaction(SIGINT, &ign, &old_int_);
    ::sigaction(SIGTERM, &ign, &old_term_);
  }
  ~IgnoreStopSignals() {
    if (!on_) return;
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  IgnoreStopSignals(const IgnoreStopSignals&) = delete;
  IgnoreStopSignals& operator=(const IgnoreStopSignals&) = delete;

 private:
  bool on_;
  struct sigaction old_int_ {
  }, old_term_{};
};

// sha256 hex (64 chars) of every rank, gathered; rank order.
std::vector<std::string> gather_hex(Group& group, const std::string& hex) {
  torch::Tensor t = torch::zeros({64}, torch::kUInt8);
  std::memcpy(t.data_ptr(), hex.data(), std::min<std::size_t>(64, hex.size()));
  std::vector<std::string> out;
  for (const auto& g : group.all_gather(t)) {
    out.emplace_back(static_cast<const char*>(g.data_ptr()), 64);
  }
  return out;
}

// Every rank's state sha256, gathered: "" when all equal rank 0's, else
// which rank differs. The replicas apply the same combined gradient, so they
// are equal by construction; this checks it at every epoch's end, where rank
// 0 checkpoints, so that its checkpoint is every rank's state.
std::string replicas_differ(Group& group, torch::nn::Module& model) {
  const auto all = gather_hex(group, state_sha256(model));
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) {
      return "rank " + std::to_string(r) + " holds other weights than rank 0 (state_sha256 " +
             all[r].substr(0, 16) + " vs " + all[0].substr(0, 16) + ")";
    }
  }
  return "";
}

}  // namespace

RunResult train(const Config& cfg, const TrainOptions& opt) {
  // Data-parallel ranks (torchrun's, Slurm's or `runtime.nproc`'s launcher's
  // environment): rank 0 owns the run directory and speaks; the others
  // compute their gradient shards, silently.
  const RankEnv ranks = rank_env_from_environment();
  const bool leader = ranks.rank == 0;
  if (ranks.world > 1) {
    if (cfg.runtime.nproc > 1 && cfg.runtime.nproc != ranks.world) {
      fail_usage("key 'runtime.nproc': " + std::to_string(cfg.runtime.nproc) + " but " +
                 ranks.source + " started " + std::to_string(ranks.world) + " ranks");
    }
    if (ranks.world > cfg.training.grad_shards) {
      fail_usage("key 'training.grad_shards': " + std::to_string(cfg.training.grad_shards) +
                 " for " + std::to_string(ranks.world) + " ranks (" + ranks.source +
                 "); each rank computes whole shards, so set it to at least " +
                 std::to_string(ranks.world) + " (it is part of the run's identity)");
    }
  }
  std::ostream* out = leader ? opt.out : nullptr;
  if (cfg.runtime.threads > 0) {
    at::set_num_threads(static_cast<int>(cfg.runtime.threads));
  } else if (ranks.local_world > 1) {
    at::set_num_threads(std::max(1, at::get_num_threads() / ranks.local_world));
  }
  IgnoreStopSignals follower_signals(!leader);
  std::unique_ptr<Group> group;
  if (ranks.world > 1) group = Group::connect(ranks, cfg.runtime.dist_timeout);

  // Inputs first: a config this machine cannot hold, bad data or a bad parent
  // fails before any directory exists.
  check_memory(cfg);
  const bool has_parent = !cfg.model.init_from.empty();
  Parent parent;
  if (has_parent) parent = resolve_parent(cfg.model.init_from);
  // Rank 0 prepares the data first, the others then find it in the token cache.
  if (group && !leader && cfg.runtime.token_cache) group->barrier();
  const PreparedData data =
      prepare_data(cfg, parent.has_vocab ? &parent.vocab : nullptr,
                   parent.labels.empty() ? nullptr : &parent.labels,
                   parent.tokenizer_model.empty() ? nullptr : &parent.tokenizer_model);
  if (group && leader && cfg.runtime.token_cache) group->barrier();
  const auto num_classes = static_cast<std::int64_t>(data.label_names.size());
  if (group) {
    // Every rank must train the same identity on the same data.
    json fingerprint = data.fingerprint;
    fingerprint.erase("token_cache");  // a hit on one rank, a miss on another
    const std::string mine = sha256_hex(canonical_json(cfg.identity_json()) + "\n" +
                                        canonical_json(fingerprint) + "\n" + data.vocab.to_text());
    const auto all = gather_hex(*group, mine);
    for (int r = 1; r < group->world(); ++r) {
      if (all[static_cast<std::size_t>(r)] != all[0]) {
        fail_usage("rank " + std::to_string(r) +
                   " has another config or other data than rank 0 (the run identity, the data "
                   "files' fingerprints and the vocabulary must be the same on every rank)");
      }
    }
  }

  // Rank 0 opens the run; the others learn from it where training starts.
  std::optional<Run> run_holder;
  if (leader) {
    run_holder.emplace(Run::open(cfg.identity_json(), run_options(cfg, opt, data)));
    if (group) {
      std::string h = json{{"completed", run_holder->completed()}}.dump();
      group->broadcast_bytes(&h, 0);
    }
    if (run_holder->completed()) {
      RunResult r = completed_result(*run_holder);
      if (out) {
        *out << "run " << r.run_id << " is already completed in " << r.run_dir << " (state_hash "
             << r.state_hash << "); use --rerun to train it again\n";
      }
      return r;
    }
    if (group) {
      // Who trained this attempt (the world size never changes the result).
      run_holder->annotate(
          "ranks",
          {{"world", group->world()}, {"launcher", ranks.source}, {"store", group->address()}});
    }
    run_holder->write_file(layout::kVocab, data.vocab.to_text());
    if (!data.tokenizer_model.empty()) {
      run_holder->write_file(layout::kTokenizer, data.tokenizer_model);
    }
  } else {
    std::string h;
    group->broadcast_bytes(&h, 0);
    if (json::parse(h).value("completed", false)) {
      RunResult r;
      r.already_completed = true;
      return r;
    }
    seed_everything(cfg.seed, cfg.deterministic);  // what Run::open does on rank 0
  }

  // The model is built after Run::open has seeded the generators.
  std::shared_ptr<ClassifierImpl> model = make_classifier(cfg, data.vocab.size(), num_classes);
  if (has_parent) {
    load_weights(parent.model_file, *model);
    if (!parent.state_sha256.empty() && state_sha256(*model) != parent.state_sha256) {
      fail_usage(parent.model_file + ": does not hold the weights its run recorded (state_sha256 " +
                 parent.state_sha256.substr(0, 16) + " in summary.json, " + state_hash(*model) +
                 " in the file); the file is damaged");
    }
    if (leader) {
      run_holder->annotate("init_from",
                           {{"path", parent.path},
                            {"model_file", parent.model_file},
                            {"run_id", parent.run_id.empty() ? json(nullptr) : json(parent.run_id)},
                            {"state_hash", state_hash(*model)}});
    }
  }
  model->train();
  auto optimizer = make_optimizer(cfg.training, model->parameters());

  LoaderOptions lo;
  lo.batch_size = cfg.training.batch_size;
  lo.shuffle = true;
  lo.seed = cfg.seed;
  lo.num_workers = cfg.runtime.num_workers;
  lo.token_dropout = cfg.training.token_dropout;
  lo.layout = layout_for(cfg.model.arch);
  lo.shards = cfg.training.grad_shards;
  lo.rank = ranks.rank;
  lo.world = ranks.world;
  DeterministicLoader loader(data.train, lo);
  const std::int64_t steps_per_epoch = loader.num_batches();
  const std::int64_t total_steps = steps_per_epoch * cfg.training.epochs;

  // Rank 0's Run; the other ranks have none and record nothing.
  Run* run = leader ? &*run_holder : nullptr;
  RunPosition start;
  if (run) {
    // The running train loss of the epoch travels in the checkpoints.
    run->state() = {{"epoch_loss_sum", 0.0}, {"epoch_loss_count", 0}};
    start = run->resume(*model, *optimizer);
  }
  if (group) {
    // Every rank starts from rank 0's state (a fresh model or its checkpoint).
    std::string h =
        json{{"epoch", start.epoch}, {"batch", start.batch}, {"step", start.step}}.dump();
    group->broadcast_bytes(&h, 0);
    std::string bytes = leader ? state_bytes(*model, *optimizer) : std::string();
    group->broadcast_bytes(&bytes, 0);
    if (!leader) {
      const json p = json::parse(h);
      start.epoch = p.at("epoch").get<std::int64_t>();
      start.batch = p.at("batch").get<std::int64_t>();
      start.step = p.at("step").get<std::int64_t>();
      load_state_bytes(bytes, *model, *optimizer);
    }
  }
  if (out) {
    *out << "run " << run->id() << "  " << run->dir() << "\n"
         << "  " << cfg.model.arch << ", " << data.train.size() << " train / " << data.val.size()
         << " val" << (data.test.size() ? " / " + std::to_string(data.test.size()) + " test" : "")
         << ", vocab " << data.vocab.size() << ", seed " << cfg.seed << ", deterministic "
         << (cfg.deterministic ? "true" : "false") << ", data " << fixed_decimals(data.seconds, 2)
         << "s\n";
    if (group) {
      *out << "  " << group->world() << " ranks (" << ranks.source << ", store " << group->address()
           << "), " << cfg.training.grad_shards << " gradient shards\n";
    }
    if (start.resumed()) *out << "  resuming from checkpoint at step " << start.step << "\n";
    *out << std::flush;
  }

  Progress progress(leader ? opt.log : nullptr, cfg.runtime.progress, cfg.runtime.log_every,
                    total_steps, cfg.training.epochs, steps_per_epoch, start.step);
  Batch batch;
  std::int64_t steps_done = start.step;
  ShardScratch scratch;  // training.grad_shards > 1: the exchange's buffers
  for (std::int64_t epoch = start.epoch; epoch < cfg.training.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    double comm_secs = 0;
    loader.start_epoch(epoch, epoch == start.epoch ? start.batch : 0);
    while (loader.next(&batch)) {
      const std::int64_t step = ++steps_done;
      const double lr = learning_rate_at(cfg.training, step - 1, total_steps, steps_per_epoch);
      set_lr(*optimizer, lr);
      double comm = 0;
      const float loss =
          cfg.training.grad_shards > 1
              ? train_step_sharded(*model, *optimizer, batch, cfg.training.grad_shards, group.get(),
                                   cfg.seed, step, cfg.training.grad_clip, &scratch, &comm)
              : train_step(*model, *optimizer, batch, cfg.seed, step, cfg.training.grad_clip);
      comm_secs += comm;
      if (!run) continue;
      // With shards, the inputs of shard 0 (always on rank 0).
      const Batch& in = batch.parts.empty() ? batch : batch.parts.front();
      run->record_input("batch.tokens", in.tokens);
      run->record_input("batch.labels", in.labels);
      json& st = run->state();
      st["epoch_loss_sum"] = st["epoch_loss_sum"].get<double>() + static_cast<double>(loss);
      st["epoch_loss_count"] = st["epoch_loss_count"].get<std::int64_t>() + 1;
      run->record_step(loss, lr);
      progress.step(step, epoch, batch.index, loss, batch.size());
    }
    progress.end_epoch();
    if (group) {
      const std::string differ = replicas_differ(*group, *model);
      if (!differ.empty()) run ? run->fail(differ) : fail_run(differ);
    }

    const double train_secs = seconds_since_steady(epoch_start);
    const auto eval_start = std::chrono::steady_clock::now();
    const EvalResult ev = evaluate(*model, data.val, cfg, num_classes, group.get());
    const double eval_secs = seconds_since_steady(eval_start);
    if (!run) continue;  // the other ranks computed their share of it
    const std::int64_t step = run->position().step;
    if (!std::isfinite(ev.loss)) {
      run->fail("training diverged: validation loss is " +
                std::string(std::isnan(ev.loss) ? "nan" : "inf") + " after epoch " +
                std::to_string(epoch + 1) + " (step " + std::to_string(step) +
                "); lower training.lr or set training.grad_clip");
    }
    json& st = run->state();
    const auto count = st["epoch_loss_count"].get<std::int64_t>();
    const double train_loss =
        count ? st["epoch_loss_sum"].get<double>() / static_cast<double>(count) : 0;
    st = {{"epoch_loss_sum", 0.0}, {"epoch_loss_count", 0}};
    const double secs = seconds_since_steady(epoch_start);
    json metrics = {{"train_loss", train_loss},
                    {"val_loss", ev.loss},
                    {"val_acc", ev.acc},
                    {"val_f1", ev.f1},
                    {"lr", learning_rate_at(cfg.training, step - 1, total_steps, steps_per_epoch)},
                    {"seconds", secs},
                    {"train_seconds", train_secs},
                    {"eval_seconds", eval_secs}};
    if (group) metrics["comm_seconds"] = comm_secs;
    run->record_epoch(metrics);
    if (out) {
      *out << "epoch " << epoch + 1 << "/" << cfg.training.epochs << "  train_loss "
           << fixed_decimals(train_loss, 4) << "  val_loss " << fixed_decimals(ev.loss, 4)
           << "  val_acc " << fixed_decimals(ev.acc, 4) << "  val_f1 " << fixed_decimals(ev.f1, 4)
           << "  (" << fixed_decimals(secs, 1) << "s)\n"
           << std::flush;
    }
  }

  const EvalResult val = evaluate(*model, data.val, cfg, num_classes, group.get());
  const EvalResult test = evaluate(*model, data.test, cfg, num_classes, group.get());
  if (!run) {
    RunResult r;
    r.state_sha256 = state_sha256(*model);
    r.steps = steps_done;
    return r;
  }
  const json summary =
      run->finish({{"val", split_metrics(val)},
                   {"test", data.test.size() ? split_metrics(test) : json(nullptr)},
                   {"data_seconds", data.seconds}});

  RunResult res;
  res.run_id = run->id();
  res.run_dir = run->dir();
  res.summary = summary;
  res.state_hash = summary["state_hash"].get<std::string>();
  res.state_sha256 = summary["state_sha256"].get<std::string>();
  res.steps = summary["steps"].get<std::int64_t>();
  res.resumed_from_step = start.resumed_from_step;
  if (out) {
    if (data.test.size()) {
      *out << "test  acc " << fixed_decimals(test.acc, 4) << "  f1 " << fixed_decimals(test.f1, 4)
           << "  loss " << fixed_decimals(test.loss, 4) << "\n";
    }
    *out << "state_hash " << res.state_hash << "\n" << std::flush;
  }
  if (!run->rerun_of().is_null()) {
    res.original_state_hash = run->rerun_of().value("state_hash", "");
    res.rerun_matches = res.state_sha256 == run->rerun_of().value("state_sha256", "");
    if (out) {
      // reruns/<n>: the directory's name is the rerun's number.
      const std::string n = run->dir().substr(run->dir().rfind('/') + 1);
      *out << "rerun " << n << ": state_hash " << res.state_hash
           << (res.rerun_matches ? " matches " : " DIFFERS from ") << "the original "
           << res.original_state_hash << "\n";
    }
  }
  return res;
}

}  // namespace mltrain
