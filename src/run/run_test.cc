#include "mltrain/run.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <csignal>
#include <functional>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/canonical_json.h"
#include "mltrain/error.h"
#include "mltrain/files.h"
#include "mltrain/records.h"
#include "mltrain/state_hash.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

std::string temp_dir() {
  char tmpl[] = "/tmp/mltrain_run_XXXXXX";
  return ::mkdtemp(tmpl);
}

const json kIdentity = {{"seed", 5}, {"deterministic", true}, {"model", {{"hidden", 4}}}};

// A small loop on the Run API whose inputs come from a generator the Run
// tracks. Returns the summary, or null when it "crashes" (returns without
// finishing) after `crash_after` steps.
json train_loop(const std::string& dir, std::int64_t crash_after = 0, json identity = kIdentity) {
  RunOptions o;
  o.dir = dir;
  o.checkpoint_every = 2;
  o.trace_every = 3;
  mltrain::Run run = mltrain::Run::open(identity, o);
  if (run.completed()) return run.summary();
  torch::nn::Linear model(4, 2);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.1));
  at::Generator gen = at::detail::createCPUGenerator(run.seed());
  run.track_generator("data", gen);
  run.state() = {{"seen", 0}};
  const RunPosition pos = run.resume(*model, opt);
  for (std::int64_t e = pos.epoch; e < 3; ++e) {
    for (std::int64_t b = e == pos.epoch ? pos.batch : 0; b < 5; ++b) {
      if (crash_after > 0 && run.position().step == crash_after) return nullptr;
      torch::Tensor x = torch::randn({8, 4}, gen);        // (B, 4)
      torch::Tensor y = (x.sum(1) > 0).to(torch::kLong);  // (B,)
      torch::Tensor loss = torch::nn::functional::cross_entropy(model(x), y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      run.state()["seen"] = run.state()["seen"].get<int>() + 8;
      run.record_input("x", x);
      run.record_step(loss.item<float>(), 0.1);
    }
    run.record_epoch({{"seen", run.state()["seen"]}});
  }
  return run.finish({{"seen", run.state()["seen"]}});
}

std::string error_of(const std::function<void()>& f, ExitCode code = ExitCode::kUsage) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code);
    return e.what();
  }
  return "";
}

TEST(Run, WritesACompleteSelfIdentifyingRunDirectory) {
  const std::string out = temp_dir();
  RunOptions o;
  o.output_dir = out;
  o.command_line = {"my-program", "--flag"};
  o.runtime = {{"workers", 2}};
  o.data = {{"files", json::array()}};
  std::string dir;
  {
    mltrain::Run run = mltrain::Run::open(kIdentity, o);
    dir = run.dir();
    EXPECT_EQ(run.id(), sha1_hex(canonical_json(kIdentity)).substr(0, 8));
    EXPECT_EQ(dir, out + "/" + run.id());
    EXPECT_EQ(run.seed(), 5u);
    EXPECT_TRUE(run.deterministic());
    EXPECT_FALSE(run.completed());
    EXPECT_EQ(read_file(dir + "/config.json"), canonical_json(kIdentity));
    for (const char* f : {"run.json", "env.json", "data.json"})
      EXPECT_TRUE(path_exists(dir + "/" + f)) << f;
    EXPECT_EQ(read_json_file(dir + "/run.json")["status"], "running");
  }
  json summary = train_loop(dir);
  RunRecord r = load_run(dir);
  EXPECT_EQ(r.status(), "completed");
  EXPECT_EQ(r.trace.size(), 15u);
  EXPECT_EQ(r.trace[2]["state"].get<std::string>().size(), 16u);  // every 3 steps
  EXPECT_FALSE(r.trace[1].contains("state"));
  EXPECT_EQ(r.metrics.size(), 3u);
  EXPECT_EQ(r.metrics[2]["seen"], 120);
  EXPECT_EQ(r.metrics[2]["step"], 15);
  EXPECT_TRUE(r.metrics[2].contains("seconds"));
  EXPECT_EQ(summary["steps"], 15);
  EXPECT_EQ(summary["epochs"], 3);
  EXPECT_EQ(summary["seen"], 120);
  EXPECT_EQ(summary["state_hash"], summary["state_sha256"].get<std::string>().substr(0, 16));
  EXPECT_TRUE(path_exists(dir + "/model.pt"));
  EXPECT_EQ(r.run["seeding"]["seed"], 5);
  // The first attempt was left without finish(): interrupted, then resumed.
  ASSERT_EQ(r.run["attempts"].size(), 2u);
  EXPECT_EQ(r.run["attempts"][0]["status"], "interrupted");
  EXPECT_EQ(r.run["attempts"][1]["status"], "completed");
}

TEST(Run, ResumeAfterACrashIsBitExact) {
  const std::string a = temp_dir(), b = temp_dir();
  const json want = train_loop(a);
  EXPECT_TRUE(train_loop(b, /*crash_after=*/7).is_null());
  EXPECT_EQ(load_run(b).status(), "interrupted");
  const json got = train_loop(b);
  EXPECT_EQ(got["state_sha256"], want["state_sha256"]);
  EXPECT_EQ(got["seen"], want["seen"]);  // the loop's own state came back
  EXPECT_EQ(read_file(a + "/trace.jsonl"), read_file(b + "/trace.jsonl"));
  RunRecord r = load_run(b);
  EXPECT_EQ(r.run["attempts"][1]["resumed_from_step"], 6);  // last checkpoint before step 7
  // Crashing right after an epoch ends resumes at the next epoch's start.
  const std::string c = temp_dir();
  train_loop(c, 10);
  EXPECT_EQ(train_loop(c)["state_sha256"], want["state_sha256"]);
  EXPECT_EQ(read_file(a + "/trace.jsonl"), read_file(c + "/trace.jsonl"));
}

TEST(Run, ACompletedRunIsReportedNotRetrainedAndRerunsCompare) {
  const std::string dir = temp_dir();
  const json first = train_loop(dir);
  const std::string model_before = read_file(dir + "/model.pt");
  EXPECT_EQ(train_loop(dir), first);  // completed: the recorded summary
  EXPECT_EQ(read_file(dir + "/model.pt"), model_before);
  // Without run.json the result is still recognised (summary.json + model.pt).
  ::unlink((dir + "/run.json").c_str());
  EXPECT_EQ(train_loop(dir), first);
  RunOptions o;
  o.dir = dir;
  o.rerun = true;
  mltrain::Run rerun = mltrain::Run::open(kIdentity, o);
  EXPECT_EQ(rerun.dir(), dir + "/reruns/1");
  EXPECT_EQ(rerun.rerun_of()["state_sha256"], first["state_sha256"]);
}

TEST(Run, RefusesWhatWouldMixTwoRuns) {
  const std::string dir = temp_dir();
  RunOptions o;
  o.dir = dir;
  {
    mltrain::Run held = mltrain::Run::open(kIdentity, o);
    EXPECT_NE(
        error_of([&] { mltrain::Run::open(kIdentity, o); }).find("another process is training"),
        std::string::npos);
  }
  json other = kIdentity;
  other["seed"] = 6;
  EXPECT_NE(error_of([&] { mltrain::Run::open(other, o); }).find("holds a different config"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              mltrain::Run::open({{"lr", 1}}, o);
            }).find("'seed'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              mltrain::Run::open({{"seed", -1}}, o);
            }).find("'seed'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { mltrain::Run::open(json::array(), o); }).find("JSON object"),
            std::string::npos);
}

TEST(Run, DataThatChangedUnderAnInterruptedRunIsNotResumed) {
  const std::string dir = temp_dir();
  RunOptions o;
  o.dir = dir;
  o.data = {{"files", {{{"split", "train"}, {"sha256", std::string(64, 'a')}}}}};
  {
    mltrain::Run run = mltrain::Run::open(kIdentity, o);
    torch::nn::Linear m(4, 2);
    torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
    run.resume(*m, opt);
    run.checkpoint();
  }
  o.data["files"][0]["sha256"] = std::string(64, 'b');
  EXPECT_NE(error_of([&] { mltrain::Run::open(kIdentity, o); }).find("data files changed"),
            std::string::npos);
  o.data["files"][0]["sha256"] = std::string(64, 'a');
  o.data["cache_hit"] = true;  // what is not a fingerprint may differ
  mltrain::Run::open(kIdentity, o);
}

// The last two checkpoints are kept: a damaged last.pt falls back to
// prev.pt; when both are damaged it is an error before anything is written.
TEST(Run, ADamagedCheckpointFallsBackToThePreviousOne) {
  const std::string ref = temp_dir();
  const json want = train_loop(ref);
  const std::string dir = temp_dir();
  train_loop(dir, 5);  // checkpoints at steps 2, 4 and 5 (the end of epoch 1)
  auto flip = [&](const char* name) {
    std::string ck = read_file(dir + "/checkpoints/" + name);
    ck[ck.size() - 100] = static_cast<char>(ck[ck.size() - 100] ^ 1);
    write_file_atomic(dir + "/checkpoints/" + name, ck);
  };
  flip("last.pt");
  EXPECT_EQ(train_loop(dir)["state_sha256"], want["state_sha256"]);
  EXPECT_EQ(load_run(dir).run["attempts"][1]["resumed_from_step"], 4);
  EXPECT_EQ(read_file(ref + "/trace.jsonl"), read_file(dir + "/trace.jsonl"));
}

TEST(Run, TwoDamagedCheckpointsAreAnErrorBeforeAnythingIsWritten) {
  const std::string dir = temp_dir();
  train_loop(dir, 5);
  for (const char* name : {"last.pt", "prev.pt"}) {
    std::string ck = read_file(dir + "/checkpoints/" + name);
    ck[ck.size() - 100] = static_cast<char>(ck[ck.size() - 100] ^ 1);
    write_file_atomic(dir + "/checkpoints/" + name, ck);
  }
  const std::string run_json = read_file(dir + "/run.json");
  EXPECT_NE(error_of([&] { train_loop(dir); }).find("last.pt: corrupt checkpoint"),
            std::string::npos);
  EXPECT_EQ(read_file(dir + "/run.json"), run_json);
}

TEST(Run, ACheckpointWhosePositionDoesNotFitTheLoopIsRefused) {
  const std::string dir = temp_dir();
  train_loop(dir, 7);
  RunOptions o;
  o.dir = dir;
  o.epochs = 3;
  o.steps_per_epoch = 4;  // the loop has 5: step 6 is not epoch 1, batch 1
  mltrain::Run run = mltrain::Run::open(kIdentity, o);
  torch::nn::Linear model(4, 2);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.1));
  at::Generator gen = at::detail::createCPUGenerator(1);
  run.track_generator("data", gen);
  EXPECT_NE(error_of([&] { run.resume(*model, opt); }).find("does not fit this run"),
            std::string::npos);
}

// SIGINT/SIGTERM: the step finishes, a checkpoint is saved there, the run is
// marked interrupted and the loop gets Error 130/143; resuming ends identical.
TEST(Run, ASignalStopsTheRunCleanlyAtTheStep) {
  const std::string ref = temp_dir();
  const json want = train_loop(ref);
  for (int sig : {SIGINT, SIGTERM}) {
    const std::string dir = temp_dir();
    RunOptions o;
    o.dir = dir;
    o.checkpoint_every = 100;  // no checkpoint but the one the signal makes
    o.trace_every = 3;
    try {
      mltrain::Run run = mltrain::Run::open(kIdentity, o);
      torch::nn::Linear model(4, 2);
      torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(0.1));
      at::Generator gen = at::detail::createCPUGenerator(run.seed());
      run.track_generator("data", gen);
      run.state() = {{"seen", 0}};
      run.resume(*model, opt);
      for (int b = 0; b < 5; ++b) {
        torch::Tensor x = torch::randn({8, 4}, gen);
        torch::Tensor loss =
            torch::nn::functional::cross_entropy(model(x), (x.sum(1) > 0).to(torch::kLong));
        opt.zero_grad();
        loss.backward();
        opt.step();
        run.state()["seen"] = run.state()["seen"].get<int>() + 8;
        if (b == 2) std::raise(sig);  // arrives in the middle of step 3
        run.record_step(loss.item<float>(), 0.1);
      }
      FAIL() << "the signal did not stop the run";
    } catch (const Error& e) {
      EXPECT_EQ(static_cast<int>(e.code()), sig == SIGINT ? 130 : 143);
      EXPECT_NE(std::string(e.what()).find("at step 3"), std::string::npos) << e.what();
    }
    const json r = read_json_file(dir + "/run.json");
    EXPECT_EQ(r["status"], "interrupted");
    EXPECT_EQ(train_loop(dir)["state_sha256"], want["state_sha256"]);
    EXPECT_EQ(load_run(dir).run["attempts"][1]["resumed_from_step"], 3);
    EXPECT_EQ(read_file(ref + "/trace.jsonl"), read_file(dir + "/trace.jsonl"));
  }
}

TEST(Run, ANonFiniteLossFailsTheRun) {
  const std::string dir = temp_dir();
  RunOptions o;
  o.dir = dir;
  o.divergence_hint = "lower the learning rate";
  mltrain::Run run = mltrain::Run::open(kIdentity, o);
  torch::nn::Linear m(4, 2);
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
  run.resume(*m, opt);
  run.record_step(0.5f);
  const std::string msg = error_of([&] { run.record_step(std::nanf("")); }, ExitCode::kFailure);
  EXPECT_EQ(msg,
            "training diverged: loss is nan at step 2 (epoch 1, batch 2); lower the learning rate");
  const json r = read_json_file(dir + "/run.json");
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["attempts"][0]["error"], msg);
}

TEST(Run, AFailedStartLeavesNoDirectoryBehind) {
  const std::string dir = temp_dir() + "/fresh";
  RunOptions o;
  o.dir = dir;
  try {
    mltrain::Run run = mltrain::Run::open(kIdentity, o);
    run.write_file("vocab.txt", "a\n");
    throw std::runtime_error("the model could not be built");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(path_exists(dir));
  // After a step, a failure is recorded instead.
  try {
    mltrain::Run run = mltrain::Run::open(kIdentity, o);
    torch::nn::Linear m(4, 2);
    torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
    run.resume(*m, opt);
    run.record_step(0.5f);
    throw std::runtime_error("later");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_json_file(dir + "/run.json")["status"], "failed");
}

TEST(Run, MisuseIsAClearError) {
  const std::string dir = temp_dir();
  RunOptions o;
  o.dir = dir;
  mltrain::Run run = mltrain::Run::open(kIdentity, o);
  EXPECT_NE(error_of([&] { run.record_step(1.0f); }).find("call Run::resume"), std::string::npos);
  EXPECT_NE(error_of([&] { run.write_file("../x", ""); }).find("not a plain file name"),
            std::string::npos);
  torch::nn::Linear m(4, 2);
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
  run.resume(*m, opt);
  EXPECT_NE(error_of([&] { run.resume(*m, opt); }).find("called twice"), std::string::npos);
  EXPECT_NE(error_of([&] { run.record_epoch(json::array()); }).find("JSON object"),
            std::string::npos);
  run.finish(json::object());
  EXPECT_NE(error_of([&] { run.record_step(1.0f); }).find("already finished"), std::string::npos);
  EXPECT_NE(error_of([&] { run.finish(json::object()); }).find("already finished"),
            std::string::npos);
}

}  // namespace
}  // namespace mltrain
