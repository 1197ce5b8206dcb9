// Micro-benchmarks: tokenizer MB/s, loader batches/s by num_workers, state
// hash GB/s, trace recording cost per training step, checkpoint save/load.
//
//   build/bench/mltrain_bench [--benchmark_filter=REGEX]
//
// Uses the embedded dataset (data/spamassassin) so the numbers describe the
// real workload.
#include <benchmark/benchmark.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "mltrain/mltrain.h"
#include "mltrain/optim.h"

namespace {

const std::string kData = std::string(MLTRAIN_SOURCE_DIR) + "/data/spamassassin/";

const mltrain::TextFile& train_file() {
  static const mltrain::TextFile f =
      mltrain::read_examples(kData + "train.jsonl.gz", "auto", "text", "label");
  return f;
}

const mltrain::PreparedData& prepared() {
  static const mltrain::PreparedData d = [] {
    mltrain::Config cfg;
    cfg.data.train_path = kData + "train.jsonl.gz";
    cfg.data.val_path = kData + "val.jsonl.gz";
    cfg.data.test_path = "";
    return mltrain::prepare_data(cfg);
  }();
  return d;
}

// Tokenizer throughput over the raw text of the training split, one thread.
void BM_Tokenizer(benchmark::State& state) {
  mltrain::TokenizerConfig tc;
  tc.max_len = state.range(0);
  mltrain::Tokenizer tok(tc);
  const auto& rows = train_file().rows;
  std::vector<std::string> out;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    for (const auto& r : rows) {
      tok.tokenize(r.text, &out);
      // Bytes actually scanned: tokenizing stops at max_len tokens.
      bytes += static_cast<std::int64_t>(r.text.size());
    }
  }
  state.SetBytesProcessed(bytes);
  state.counters["docs/s"] = benchmark::Counter(static_cast<double>(rows.size()),
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Tokenizer)->Arg(1 << 30)->Arg(1024)->Unit(benchmark::kMillisecond);

// Batches per second delivered in order, by number of worker threads.
void BM_Loader(benchmark::State& state) {
  mltrain::LoaderOptions o;
  o.batch_size = 32;
  o.num_workers = state.range(0);
  o.layout = state.range(1) ? mltrain::BatchLayout::kPadded : mltrain::BatchLayout::kBag;
  o.token_dropout = 0.1;
  mltrain::DeterministicLoader loader(prepared().train, o);
  std::int64_t batches = 0, epoch = 0;
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    mltrain::Batch b;
    while (loader.next(&b)) ++batches;
  }
  state.counters["batches/s"] =
      benchmark::Counter(static_cast<double>(batches), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Loader)
    ->ArgsProduct({{0, 1, 2, 4}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The default bow model (30000 x 64 embedding): what every trace_every-th
// step and every summary hashes.
std::shared_ptr<mltrain::ClassifierImpl> bow_model() {
  mltrain::Config cfg;
  mltrain::seed_everything(1, false);
  return mltrain::make_classifier(cfg, 30000, 2);
}

void BM_StateHash(benchmark::State& state) {
  auto model = bow_model();
  std::int64_t bytes = 0;
  for (const auto& p : model->parameters()) bytes += static_cast<std::int64_t>(p.nbytes());
  for (auto _ : state) benchmark::DoNotOptimize(mltrain::state_sha256(*model));
  state.SetBytesProcessed(bytes * state.iterations());
}
BENCHMARK(BM_StateHash)->Unit(benchmark::kMillisecond);

// One bow training step on real batches, with and without the trace record
// (loss bits + lr as a JSON line, and the state hash every `trace_every`
// steps, amortised): the trace's share of step time.
void BM_TrainStep(benchmark::State& state) {
  const bool trace = state.range(0) != 0;
  const std::int64_t trace_every = state.range(1);
  const bool fused = state.range(2) != 0;
  auto model = bow_model();
  std::unique_ptr<torch::optim::Optimizer> optp;
  if (fused) {
    optp = std::make_unique<mltrain::FusedAdam>(model->parameters(),
                                                torch::optim::AdamOptions(0.005), false);
  } else {
    optp =
        std::make_unique<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(0.005));
  }
  torch::optim::Optimizer& opt = *optp;
  mltrain::LoaderOptions o;
  o.batch_size = 32;
  mltrain::DeterministicLoader loader(prepared().train, o);
  std::vector<mltrain::Batch> batches;
  loader.start_epoch(0);
  mltrain::Batch b;
  for (int i = 0; i < 32 && loader.next(&b); ++i) batches.push_back(b);
  char path[] = "/tmp/mltrain_bench_XXXXXX";
  std::string dir = ::mkdtemp(path);
  mltrain::LineWriter w;
  w.open(dir + "/trace.jsonl", 0);
  std::int64_t step = 0;
  for (auto _ : state) {
    const mltrain::Batch& batch = batches[static_cast<std::size_t>(step % 32)];
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(batch), batch.labels);
    float v = loss.item<float>();
    loss.backward();
    opt.step();
    ++step;
    if (trace) {
      nlohmann::json tr = {
          {"step", step}, {"epoch", 1}, {"batch", step}, {"loss", v}, {"lr", 0.005}};
      if (step % trace_every == 0) tr["state"] = mltrain::state_hash(*model);
      w.append_line(tr.dump());
    }
  }
}
// Args: trace on/off, trace_every, FusedAdam (1) or LibTorch's Adam (0).
BENCHMARK(BM_TrainStep)
    ->Args({0, 50, 1})
    ->Args({1, 50, 1})
    ->Args({1, 10, 1})
    ->Args({0, 50, 0})
    ->Unit(benchmark::kMillisecond);

// A checkpoint saved through the Run API (Arg 0), or the run opened and
// resumed from it (Arg 1): what a step with a due checkpoint, and a restart,
// cost for the bow model with its Adam state.
void BM_Checkpoint(benchmark::State& state) {
  auto model = bow_model();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.005));
  char path[] = "/tmp/mltrain_bench_XXXXXX";
  mltrain::RunOptions ro;
  ro.dir = std::string(::mkdtemp(path)) + "/run";
  const nlohmann::json identity = {{"seed", 42}, {"bench", "checkpoint"}};
  // One step first, so the optimizer state (2 x the weights) is saved too.
  model->zero_grad();
  mltrain::LoaderOptions o;
  mltrain::DeterministicLoader loader(prepared().train, o);
  loader.start_epoch(0);
  mltrain::Batch b;
  loader.next(&b);
  torch::nn::functional::cross_entropy(model->forward(b), b.labels).backward();
  opt.step();
  const bool load = state.range(0) != 0;
  {
    mltrain::Run run = mltrain::Run::open(identity, ro);
    run.resume(*model, opt);
    run.checkpoint();
    if (!load) {
      for (auto _ : state) run.checkpoint();
    }
  }
  if (load) {
    for (auto _ : state) {
      mltrain::Run run = mltrain::Run::open(identity, ro);
      run.resume(*model, opt);
    }
  }
  state.counters["MB"] =
      static_cast<double>(std::filesystem::file_size(ro.dir + "/checkpoints/last.pt")) / 1e6;
}
BENCHMARK(BM_Checkpoint)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
