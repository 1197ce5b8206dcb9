// The training loop and the run directory it fills.
#include "mltrain/trainer.h"

#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "mltrain/data.h"
#include "mltrain/env.h"
#include "mltrain/error.h"
#include "mltrain/fs.h"
#include "mltrain/hash.h"
#include "mltrain/loader.h"
#include "mltrain/models.h"
#include "mltrain/seed.h"
#include "mltrain/state_hash.h"
#include "repro/state_dict.h"
#include "train/checkpoint.h"
#include "train/fused_adam.h"
#include "train/run_dir.h"

namespace mltrain {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr std::int64_t kEvalBatch = 128;

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

// Test hooks, read from the environment once per run. They exist so that the
// test suite can prove the guarantees can fail: perturb one gradient (verify
// must then name the step and tensor), make a parameter NaN (the run must
// stop with exit 1), or stop the process at an exact point so a test can
// SIGKILL it there (resume must still be bit-exact).
struct TestHooks {
  std::int64_t perturb_step = -1;
  std::string perturb_tensor;
  bool perturb_nan = false;
  std::int64_t stop_at_step = -1;        // SIGSTOP after this step
  std::int64_t stop_in_checkpoint = -1;  // SIGSTOP half-way through writing it

  static TestHooks from_env() {
    TestHooks h;
    if (const char* p = std::getenv("MLTRAIN_TEST_PERTURB")) {
      // STEP:TENSOR[:nan][@VERIFY_RUN]
      std::string spec = p;
      auto at = spec.find('@');
      bool applies = true;
      if (at != std::string::npos) {
        const char* run = std::getenv("MLTRAIN_VERIFY_RUN");
        applies = run != nullptr && spec.substr(at + 1) == run;
        spec = spec.substr(0, at);
      }
      auto c1 = spec.find(':');
      if (applies && c1 != std::string::npos) {
        h.perturb_step = std::atoll(spec.substr(0, c1).c_str());
        h.perturb_tensor = spec.substr(c1 + 1);
        auto c2 = h.perturb_tensor.find(':');
        if (c2 != std::string::npos) {
          h.perturb_nan = h.perturb_tensor.substr(c2 + 1) == "nan";
          h.perturb_tensor = h.perturb_tensor.substr(0, c2);
        }
      }
    }
    // MLTRAIN_STOP_AT is also how `verify --interrupt-at` stops a run at an
    // exact step before it SIGKILLs it.
    if (const char* s = std::getenv("MLTRAIN_STOP_AT")) {
      std::string spec = s;
      if (spec.rfind("checkpoint:", 0) == 0) {
        h.stop_in_checkpoint = std::atoll(spec.c_str() + 11);
      } else {
        h.stop_at_step = std::atoll(spec.c_str());
      }
    }
    return h;
  }
};

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainingConfig& t,
                                                        const std::vector<torch::Tensor>& params) {
  if (t.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(t.lr).momentum(t.momentum).weight_decay(t.weight_decay));
  }
  return std::make_unique<FusedAdam>(
      params, torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay),
      /*decoupled=*/t.optimizer == "adamw");
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

struct EvalResult {
  double loss = 0, acc = 0, f1 = 0;
  std::int64_t n = 0;
};

EvalResult evaluate(ClassifierImpl& model, const EncodedSplit& split, const Config& cfg,
                    std::int64_t num_classes) {
  EvalResult r;
  if (split.size() == 0) return r;
  torch::NoGradGuard no_grad;
  model.eval();
  LoaderOptions lo;
  lo.batch_size = kEvalBatch;
  lo.shuffle = false;
  lo.seed = cfg.seed;
  lo.num_workers = cfg.runtime.num_workers;
  lo.layout = layout_for(cfg.model.arch);
  DeterministicLoader loader(split, lo);
  loader.start_epoch(0);
  std::vector<std::int64_t> tp(num_classes, 0), fp(num_classes, 0), fn(num_classes, 0);
  double loss_sum = 0;
  std::int64_t correct = 0;
  Batch b;
  while (loader.next(&b)) {
    torch::Tensor logits = model.forward(b);  // (B, C)
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, b.labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    torch::Tensor pred = logits.argmax(1);
    auto pa = pred.accessor<std::int64_t, 1>();
    auto la = b.labels.accessor<std::int64_t, 1>();
    for (std::int64_t i = 0; i < b.size(); ++i) {
      if (pa[i] == la[i]) {
        ++correct;
        ++tp[la[i]];
      } else {
        ++fp[pa[i]];
        ++fn[la[i]];
      }
    }
  }
  r.n = split.size();
  r.loss = loss_sum / static_cast<double>(r.n);
  r.acc = static_cast<double>(correct) / static_cast<double>(r.n);
  double f1 = 0;
  for (std::int64_t c = 0; c < num_classes; ++c) {
    std::int64_t d = 2 * tp[c] + fp[c] + fn[c];
    f1 += d ? 2.0 * static_cast<double>(tp[c]) / static_cast<double>(d) : 0.0;
  }
  r.f1 = f1 / static_cast<double>(num_classes);
  model.train();
  return r;
}

// Per-tensor hashes of parameters, gradients or optimizer state, for `verify`
// to find the first diverging tensor.
json tensor_phase(const std::string& phase, std::int64_t step, ClassifierImpl& model,
                  torch::optim::Optimizer& opt) {
  json tensors = json::array();
  NamedTensors params = ordered_state_dict(model);
  for (const auto& kv : params) {
    const torch::Tensor& p = kv.second;
    if (phase == "param") {
      tensors.push_back({kv.first, tensor_sha256(p)});
    } else if (phase == "grad") {
      if (!p.requires_grad()) continue;
      tensors.push_back({kv.first, p.grad().defined() ? tensor_sha256(p.grad()) : "none"});
    } else {
      if (!p.requires_grad()) continue;
      auto& state = opt.state();
      auto it = state.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == state.end()) continue;
      auto* st = it->second.get();
      if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(st)) {
        tensors.push_back({kv.first + ".exp_avg", tensor_sha256(a->exp_avg())});
        tensors.push_back({kv.first + ".exp_avg_sq", tensor_sha256(a->exp_avg_sq())});
      } else if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(st)) {
        if (s->momentum_buffer().defined()) {
          tensors.push_back({kv.first + ".momentum_buffer", tensor_sha256(s->momentum_buffer())});
        }
      }
    }
  }
  return {{"step", step}, {"phase", phase}, {"tensors", tensors}};
}

// Progress on stderr: a redrawn bar on a TTY, plain periodic lines otherwise.
class Progress {
 public:
  Progress(std::ostream* log, bool enabled, std::int64_t log_every, std::int64_t total_steps,
           std::int64_t epochs, std::int64_t batches)
      : log_(log),
        tty_(enabled && log == &std::cerr && ::isatty(STDERR_FILENO)),
        log_every_(log_every),
        total_(total_steps),
        epochs_(epochs),
        batches_(batches),
        start_(Clock::now()) {}

  void step(std::int64_t step, std::int64_t epoch, std::int64_t batch, double loss,
            std::int64_t samples, std::int64_t first_step) {
    if (log_ == nullptr) return;
    samples_ += samples;
    const bool periodic = step % log_every_ == 0;
    if (!tty_ && !periodic) return;
    double el = seconds_since(start_);
    if (tty_ && step != total_ && el - last_draw_ < 0.1) return;
    last_draw_ = el;
    double rate = el > 0 ? static_cast<double>(samples_) / el : 0;
    double done = static_cast<double>(step - first_step);
    double eta = done > 0 ? el / done * static_cast<double>(total_ - step) : 0;
    std::ostringstream line;
    line << "epoch " << epoch + 1 << "/" << epochs_ << " batch " << batch + 1 << "/" << batches_
         << " step " << step << "/" << total_ << " loss " << fixed_decimals(loss, 4) << " "
         << static_cast<std::int64_t>(rate) << " samples/s ETA " << fixed_decimals(eta, 0) << "s";
    if (tty_) {
      int width = 20;
      int filled = static_cast<int>(width * static_cast<double>(step) / static_cast<double>(total_));
      *log_ << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] "
            << line.str() << "\033[K" << std::flush;
    } else {
      *log_ << line.str() << "\n" << std::flush;
    }
  }
  void end_epoch() {
    if (tty_ && log_ != nullptr) *log_ << "\r\033[K" << std::flush;
  }

 private:
  std::ostream* log_;
  bool tty_;
  std::int64_t log_every_, total_, epochs_, batches_;
  Clock::time_point start_;
  std::int64_t samples_ = 0;
  double last_draw_ = -1;
};

json attempt_record(const TrainOptions& opt, std::int64_t resumed_from) {
  return {{"started", now_iso8601()},
          {"pid", static_cast<std::int64_t>(::getpid())},
          {"command", opt.command_line},
          {"resumed_from_step", resumed_from},
          {"status", "running"}};
}

json summary_metrics(const EvalResult& r) {
  return {{"loss", r.loss}, {"acc", r.acc}, {"f1", r.f1}, {"n", r.n}};
}

// init_from: a run directory (its model.pt and vocab.txt) or a model file.
struct Parent {
  std::string path, model_file, run_id;
  bool has_vocab = false;
  Vocab vocab;
  std::vector<std::string> labels;
};

Parent resolve_parent(const std::string& init_from) {
  Parent p;
  p.path = init_from;
  if (is_directory(init_from)) {
    p.model_file = join_path(init_from, "model.pt");
    std::string vocab_path = join_path(init_from, "vocab.txt");
    if (!path_exists(p.model_file)) {
      fail_usage("key 'model.init_from': " + init_from + " has no model.pt (is it a completed run?)");
    }
    if (path_exists(vocab_path)) {
      p.vocab = Vocab::from_text(read_file(vocab_path), vocab_path);
      p.has_vocab = true;
    }
    std::string data_path = join_path(init_from, "data.json");
    if (path_exists(data_path)) {
      p.labels = read_json_file(data_path).value("labels", std::vector<std::string>{});
    }
    std::string cfg_path = join_path(init_from, "config.json");
    if (path_exists(cfg_path)) p.run_id = sha1_hex(read_file(cfg_path)).substr(0, 8);
  } else {
    if (!path_exists(init_from)) fail_usage("key 'model.init_from': " + init_from + " not found");
    p.model_file = init_from;
  }
  return p;
}

RunResult train_in_dir(const Config& cfg, const TrainOptions& opt, const std::string& dir) {
  const auto wall_start = Clock::now();
  RunResult res;
  res.run_id = cfg.run_id();
  res.run_dir = dir;
  const TestHooks hooks = TestHooks::from_env();
  std::ostream* out = opt.out;

  const std::string ckpt_dir = join_path(dir, "checkpoints");
  const std::string ckpt_path = join_path(ckpt_dir, "last.pt");
  const std::string run_json_path = join_path(dir, "run.json");

  if (cfg.runtime.threads > 0) at::set_num_threads(static_cast<int>(cfg.runtime.threads));
  // The environment as given (with the thread count in force), before
  // seeding changes anything in it.
  const json env = environment_manifest();
  // Seeding comes first: before CUDA could initialise, before any weights.
  SeedRecord seeding = seed_everything(cfg.seed, cfg.deterministic);

  // Data (the vocabulary comes from the parent run when fine-tuning).
  Parent parent;
  bool has_parent = !cfg.model.init_from.empty();
  if (has_parent) parent = resolve_parent(cfg.model.init_from);
  PreparedData data = prepare_data(cfg, parent.has_vocab ? &parent.vocab : nullptr,
                                   parent.labels.empty() ? nullptr : &parent.labels);
  const std::string data_json_path = join_path(dir, "data.json");
  const bool resuming = path_exists(ckpt_path);
  if (resuming && path_exists(data_json_path)) {
    json before = read_json_file(data_json_path);
    if (before.at("files") != data.fingerprint.at("files") ||
        before.at("vocab") != data.fingerprint.at("vocab")) {
      fail_usage(data_json_path + ": the data files changed since this run started; "
                 "cannot resume (restore them, or train into a new output_dir)");
    }
  }
  const std::int64_t num_classes = static_cast<std::int64_t>(data.label_names.size());

  // Model and optimizer.
  std::shared_ptr<ClassifierImpl> model = make_classifier(cfg, data.vocab.size(), num_classes);
  json parent_json = nullptr;
  if (has_parent) {
    load_weights(parent.model_file, *model);
    parent_json = {{"path", parent.path},
                   {"model_file", parent.model_file},
                   {"run_id", parent.run_id.empty() ? json(nullptr) : json(parent.run_id)},
                   {"state_hash", state_hash(*model)}};
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
  DeterministicLoader loader(data.train, lo);
  const std::int64_t steps_per_epoch = loader.num_batches();
  const std::int64_t total_steps = steps_per_epoch * cfg.training.epochs;

  TrainPosition pos;
  if (resuming) {
    load_checkpoint(ckpt_path, res.run_id, *model, *optimizer, &pos);
    res.resumed_from_step = pos.step;
  }

  // Everything above only read; from here on the run directory is written.
  make_dirs(ckpt_dir);
  // run.json: one attempt record per start.
  json run = path_exists(run_json_path) ? read_json_file(run_json_path) : json::object();
  if (!run.contains("created")) run["created"] = now_iso8601();
  run["run_id"] = res.run_id;
  run["status"] = "running";
  run["command"] = opt.command_line;
  run["runtime"] = cfg.to_json().at("runtime");
  run["seeding"] = seeding.to_json();
  run["init_from"] = parent_json;
  run["ml_train_version"] = version_string();
  if (!run.contains("attempts")) run["attempts"] = json::array();
  for (auto& a : run["attempts"]) {
    if (a.value("status", "") == "running") a["status"] = "interrupted";  // killed or crashed
  }
  run["attempts"].push_back(attempt_record(opt, res.resumed_from_step));
  auto write_run = [&](const std::string& status) {
    run["status"] = status;
    run["updated"] = now_iso8601();
    run["attempts"].back()["status"] = status;
    if (status != "running") run["attempts"].back()["ended"] = now_iso8601();
    write_json_atomic(run_json_path, run);
  };
  write_file_atomic(join_path(dir, "config.json"), cfg.canonical());
  write_json_atomic(join_path(dir, "env.json"), env);
  run["attempts"].back()["env_sha256"] = sha256_hex(env.dump());
  write_json_atomic(data_json_path, data.fingerprint);
  write_file_atomic(join_path(dir, "vocab.txt"), data.vocab.to_text());
  write_run("running");

  LineWriter metrics, trace;
  metrics.open(join_path(dir, "metrics.jsonl"), pos.metrics_bytes);
  trace.open(join_path(dir, "trace.jsonl"), pos.trace_bytes);
  LineWriter dump;
  if (!opt.dump_path.empty()) dump.open(opt.dump_path, 0);

  if (out) {
    *out << "run " << res.run_id << "  " << dir << "\n"
         << "  " << cfg.model.arch << ", " << data.train.size() << " train / " << data.val.size()
         << " val" << (data.test.size() ? " / " + std::to_string(data.test.size()) + " test" : "")
         << ", vocab " << data.vocab.size() << ", seed " << cfg.seed << ", deterministic "
         << (cfg.deterministic ? "true" : "false") << ", data " << fixed_decimals(data.seconds, 2) << "s\n";
    if (resuming) *out << "  resuming from checkpoint at step " << pos.step << "\n";
    *out << std::flush;
  }

  Progress progress(opt.log, cfg.runtime.progress, cfg.runtime.log_every, total_steps,
                    cfg.training.epochs, steps_per_epoch);
  const auto train_start = Clock::now();
  auto elapsed = [&] { return pos.elapsed_seconds + seconds_since(train_start); };
  auto checkpoint = [&] {
    // The lines the checkpoint counts must be on disk before it is.
    metrics.sync();
    trace.sync();
    pos.metrics_bytes = metrics.size();
    pos.trace_bytes = trace.size();
    TrainPosition p = pos;
    p.elapsed_seconds = elapsed();
    if (hooks.stop_in_checkpoint == pos.step) {
      // Simulate dying half-way through a checkpoint write.
      std::string partial = ckpt_path + ".tmp." + std::to_string(::getpid());
      std::string bytes = path_exists(ckpt_path) ? read_file(ckpt_path) : std::string(4096, 'x');
      write_file_atomic(partial + ".part", bytes.substr(0, bytes.size() / 2));
      std::rename((partial + ".part").c_str(), partial.c_str());
      std::raise(SIGSTOP);
    }
    save_checkpoint(ckpt_path, res.run_id, *model, *optimizer, p);
  };

  const auto named = model->named_parameters();
  Batch batch;
  for (; pos.epoch < cfg.training.epochs; ++pos.epoch, pos.batch = 0) {
    const auto epoch_start = Clock::now();
    loader.start_epoch(pos.epoch, pos.batch);
    while (loader.next(&batch)) {
      const std::int64_t step = pos.step + 1;  // 1-based step being taken
      const double lr = learning_rate_at(cfg.training, pos.step, total_steps, steps_per_epoch);
      set_lr(*optimizer, lr);
      const bool dumping = !opt.dump_path.empty() && step >= opt.dump_from && step <= opt.dump_to;
      if (dumping) {
        json in = {{"step", step},
                   {"phase", "batch"},
                   {"tensors", json::array({json::array({"batch.tokens", tensor_sha256(batch.tokens)}),
                                            json::array({"batch.labels", tensor_sha256(batch.labels)})})}};
        dump.append_line(in.dump());
        dump.append_line(tensor_phase("param", step, *model, *optimizer).dump());
      }

      optimizer->zero_grad();
      model->set_random_step(cfg.seed, step);
      torch::Tensor logits = model->forward(batch);  // (B, C)
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, batch.labels);
      const float loss_value = loss.item<float>();
      if (!std::isfinite(loss_value)) {
        write_run("failed");
        fail_run("training diverged: loss is " + std::string(std::isnan(loss_value) ? "nan" : "inf") +
                 " at step " + std::to_string(step) + " (epoch " + std::to_string(pos.epoch + 1) +
                 ", batch " + std::to_string(batch.index + 1) + "); lower training.lr or set "
                 "training.grad_clip");
      }
      loss.backward();
      if (step == hooks.perturb_step) {
        torch::NoGradGuard ng;
        const torch::Tensor* p = named.find(hooks.perturb_tensor);
        if (p == nullptr) fail_usage("MLTRAIN_TEST_PERTURB: no parameter " + hooks.perturb_tensor);
        if (hooks.perturb_nan) {
          p->fill_(std::numeric_limits<float>::quiet_NaN());
        } else {
          p->grad().add_(1e-3);
        }
      }
      if (cfg.training.grad_clip > 0) {
        torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.training.grad_clip);
      }
      if (dumping) dump.append_line(tensor_phase("grad", step, *model, *optimizer).dump());
      optimizer->step();
      if (dumping) dump.append_line(tensor_phase("optimizer", step, *model, *optimizer).dump());

      pos.step = step;
      pos.batch = batch.index + 1;
      pos.epoch_loss_sum += static_cast<double>(loss_value);
      ++pos.epoch_loss_count;

      json tr = {{"step", step},
                 {"epoch", pos.epoch + 1},
                 {"batch", batch.index + 1},
                 {"loss", float_bits(loss_value)},
                 {"lr", lr}};
      if (step % cfg.runtime.trace_every == 0) tr["state"] = state_hash(*model);
      trace.append_line(tr.dump());
      progress.step(step, pos.epoch, batch.index, loss_value, batch.size(),
                    res.resumed_from_step < 0 ? 0 : res.resumed_from_step);

      if (!opt.dump_path.empty() && step >= opt.dump_to) {
        dump.sync();
        res.steps = step;
        res.state_sha256 = state_sha256(*model);
        res.state_hash = res.state_sha256.substr(0, 16);
        return res;  // a diagnostic run stops here
      }
      if (cfg.runtime.checkpoint_every > 0 && step % cfg.runtime.checkpoint_every == 0 &&
          pos.batch < steps_per_epoch) {
        checkpoint();
      }
      if (hooks.stop_at_step == step) std::raise(SIGSTOP);
    }
    progress.end_epoch();

    const double train_secs = seconds_since(epoch_start);
    const auto eval_start = Clock::now();
    EvalResult ev = evaluate(*model, data.val, cfg, num_classes);
    const double eval_secs = seconds_since(eval_start);
    if (!std::isfinite(ev.loss)) {
      write_run("failed");
      fail_run("training diverged: validation loss is " + std::string(std::isnan(ev.loss) ? "nan" : "inf") +
               " after epoch " + std::to_string(pos.epoch + 1) + " (step " + std::to_string(pos.step) +
               "); lower training.lr or set training.grad_clip");
    }
    const double train_loss =
        pos.epoch_loss_count ? pos.epoch_loss_sum / static_cast<double>(pos.epoch_loss_count) : 0;
    const double secs = seconds_since(epoch_start);
    json m = {{"epoch", pos.epoch + 1}, {"step", pos.step},     {"train_loss", train_loss},
              {"val_loss", ev.loss},    {"val_acc", ev.acc},    {"val_f1", ev.f1},
              {"lr", learning_rate_at(cfg.training, pos.step - 1, total_steps, steps_per_epoch)},
              {"seconds", secs},        {"train_seconds", train_secs}, {"eval_seconds", eval_secs}};
    metrics.append_line(m.dump());
    if (out) {
      *out << "epoch " << pos.epoch + 1 << "/" << cfg.training.epochs << "  train_loss "
           << fixed_decimals(train_loss, 4) << "  val_loss " << fixed_decimals(ev.loss, 4) << "  val_acc "
           << fixed_decimals(ev.acc, 4) << "  val_f1 " << fixed_decimals(ev.f1, 4) << "  (" << fixed_decimals(secs, 1)
           << "s)\n"
           << std::flush;
    }
    pos.epoch_loss_sum = 0;
    pos.epoch_loss_count = 0;
    // The end-of-epoch checkpoint points at the start of the next epoch.
    TrainPosition saved = pos;
    ++pos.epoch;
    pos.batch = 0;
    checkpoint();
    pos = saved;
  }
  metrics.sync();
  trace.sync();

  // Final artefacts.
  EvalResult val = evaluate(*model, data.val, cfg, num_classes);
  EvalResult test = evaluate(*model, data.test, cfg, num_classes);
  save_weights(join_path(dir, "model.pt"), *model);
  res.state_sha256 = state_sha256(*model);
  res.state_hash = res.state_sha256.substr(0, 16);
  res.steps = pos.step;
  json summary = {{"run_id", res.run_id},
                  {"state_hash", res.state_hash},
                  {"state_sha256", res.state_sha256},
                  {"steps", pos.step},
                  {"epochs", cfg.training.epochs},
                  {"val", summary_metrics(val)},
                  {"test", data.test.size() ? summary_metrics(test) : json(nullptr)},
                  {"data_seconds", data.seconds},
                  {"train_seconds", elapsed()},
                  {"wall_seconds", seconds_since(wall_start)},
                  {"model_file", "model.pt"}};
  write_json_atomic(join_path(dir, "summary.json"), summary);
  res.summary = summary;
  write_run("completed");
  if (out) {
    if (data.test.size()) {
      *out << "test  acc " << fixed_decimals(test.acc, 4) << "  f1 " << fixed_decimals(test.f1, 4) << "  loss "
           << fixed_decimals(test.loss, 4) << "\n";
    }
    *out << "state_hash " << res.state_hash << "\n" << std::flush;
  }
  return res;
}

}  // namespace

RunResult train(const Config& cfg, const TrainOptions& opt) {
  const std::string run_id = cfg.run_id();
  const std::string dir =
      opt.run_dir.empty() ? join_path(cfg.runtime.output_dir, run_id) : opt.run_dir;
  const bool fresh = !path_exists(dir);
  make_dirs(dir);
  FileLock lock;
  if (!lock.try_lock(join_path(dir, ".lock"))) {
    fail_usage(dir + ": another ml-train process is training this run; wait for it to finish");
  }
  const std::string cfg_path = join_path(dir, "config.json");
  if (path_exists(cfg_path) && read_file(cfg_path) != cfg.canonical()) {
    fail_usage(cfg_path + ": holds a different config than run " + run_id +
               " (edited by hand?); move the directory away");
  }
  const std::string run_json = join_path(dir, "run.json");
  if (path_exists(run_json) && read_json_file(run_json).value("status", "") == "completed") {
    const std::string summary_path = join_path(dir, "summary.json");
    json summary = read_json_file(summary_path);
    if (!opt.rerun) {
      RunResult r;
      r.run_id = run_id;
      r.run_dir = dir;
      r.already_completed = true;
      r.summary = summary;
      r.state_hash = summary.value("state_hash", "");
      r.state_sha256 = summary.value("state_sha256", "");
      r.steps = summary.value("steps", 0);
      if (opt.out) {
        *opt.out << "run " << run_id << " is already completed in " << dir
                 << " (state_hash " << r.state_hash << "); use --rerun to train it again\n";
      }
      return r;
    }
    int n = 1;
    while (path_exists(join_path(dir, "reruns/" + std::to_string(n)))) ++n;
    TrainOptions o = opt;
    o.rerun = false;
    o.run_dir = join_path(dir, "reruns/" + std::to_string(n));
    RunResult r = train(cfg, o);
    r.original_state_hash = summary.value("state_hash", "");
    r.rerun_matches = r.state_sha256 == summary.value("state_sha256", "");
    if (opt.out) {
      *opt.out << "rerun " << n << ": state_hash " << r.state_hash
               << (r.rerun_matches ? " matches " : " DIFFERS from ") << "the original "
               << r.original_state_hash << "\n";
    }
    return r;
  }
  // Temporary files left by a process killed while writing are garbage.
  remove_temp_files(dir);
  remove_temp_files(join_path(dir, "checkpoints"));
  try {
    return train_in_dir(cfg, opt, dir);
  } catch (const std::exception&) {
    // Bad config or data found before anything was written: leave no empty
    // run directory behind.
    if (fresh && !path_exists(cfg_path)) {
      ::unlink(join_path(dir, ".lock").c_str());
      ::rmdir(dir.c_str());
    }
    throw;
  }
}

}  // namespace mltrain
