#include "train/printer.h"

#include <ostream>
#include <string>

#include "mltrain/format.h"
#include "mltrain/ranks.h"

namespace mltrain {

void Printer::already_completed(const RunResult& r) {
  if (!out_) return;
  *out_ << "run " << r.run_id << " is already completed in " << r.run_dir << " (state_hash "
        << r.state_hash << "); use --rerun to train it again\n"
        << std::flush;
}

void Printer::started(const Run& run, const Config& cfg, const PreparedData& data,
                      const RunPosition& start) {
  if (!out_) return;
  *out_ << "run " << run.id() << "  " << run.dir() << "\n"
        << "  " << cfg.model.arch << ", " << data.train.size() << " train / " << data.val.size()
        << " val" << (data.test.size() ? " / " + std::to_string(data.test.size()) + " test" : "")
        << ", vocab " << data.vocab.size() << ", seed " << cfg.seed << ", deterministic "
        << (cfg.deterministic ? "true" : "false") << ", data " << fixed_decimals(data.seconds, 2)
        << "s\n";
  if (run.group() != nullptr) {
    const RankEnv env = rank_env_from_environment();
    *out_ << "  " << run.world() << " ranks (" << (env.source.empty() ? "user" : env.source)
          << ", store " << run.group()->address() << "), " << cfg.training.grad_shards
          << " gradient shards\n";
  }
  if (start.resumed()) *out_ << "  resuming from checkpoint at step " << start.step << "\n";
  *out_ << std::flush;
}

void Printer::epoch(std::int64_t epoch, std::int64_t epochs, const nlohmann::json& m) {
  if (!out_) return;
  *out_ << "epoch " << epoch + 1 << "/" << epochs << "  train_loss "
        << fixed_decimals(m.at("train_loss").get<double>()) << "  val_loss "
        << fixed_decimals(m.at("val_loss").get<double>()) << "  val_acc "
        << fixed_decimals(m.at("val_acc").get<double>()) << "  val_f1 "
        << fixed_decimals(m.at("val_f1").get<double>()) << "  ("
        << fixed_decimals(m.at("seconds").get<double>(), 1) << "s)\n"
        << std::flush;
}

void Printer::finished(const RunResult& r, const nlohmann::json& test) {
  if (!out_) return;
  if (test.is_object()) {
    *out_ << "test  acc " << fixed_decimals(test.at("acc").get<double>()) << "  f1 "
          << fixed_decimals(test.at("f1").get<double>()) << "  loss "
          << fixed_decimals(test.at("loss").get<double>()) << "\n";
  }
  *out_ << "state_hash " << r.state_hash << "\n";
  if (!r.original_state_hash.empty()) {
    // reruns/<n>: the directory's name is the rerun's number.
    const std::string n = r.run_dir.substr(r.run_dir.rfind('/') + 1);
    *out_ << "rerun " << n << ": state_hash " << r.state_hash
          << (r.rerun_matches ? " matches " : " DIFFERS from ") << "the original "
          << r.original_state_hash << "\n";
  }
  *out_ << std::flush;
}

}  // namespace mltrain
