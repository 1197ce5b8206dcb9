// verify: train the same thing several times as separate processes and
// require bit-identical records; on a difference, name the first diverging
// step and tensor. The attempts are driven through the control contract
// (run/control.h), so the same engine verifies the built-in trainer and any
// program that uses the Run API.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <ostream>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/error.h"
#include "mltrain/experiment.h"
#include "mltrain/files.h"
#include "mltrain/format.h"
#include "mltrain/layout.h"
#include "run/control.h"
#include "run/process.h"
#include "run/record_files.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

constexpr const char* kRunDirPlaceholder = "{run_dir}";

// One attempt: a name, what distinguishes it, how to run it.
struct Attempt {
  std::string name, variation;
  std::vector<std::string> argv;  // "{run_dir}" still in it
  RunControl control;             // every invocation of this attempt
  bool interrupt = false;         // first invocation stopped and SIGKILLed
};

std::vector<std::string> with_run_dir(const std::vector<std::string>& argv,
                                      const std::string& dir) {
  std::vector<std::string> out;
  for (std::string a : argv) {
    for (std::size_t p = a.find(kRunDirPlaceholder); p != std::string::npos;
         p = a.find(kRunDirPlaceholder, p + dir.size())) {
      a.replace(p, std::string(kRunDirPlaceholder).size(), dir);
    }
    out.push_back(a);
  }
  return out;
}

std::vector<std::string> control_env(const RunControl& c) {
  if (c.empty()) return {};
  return {c.env_entry()};
}

// "STEP:TENSOR" of --perturb.
void parse_perturb(const std::string& spec, int repeats, RunControl* c) {
  const auto colon = spec.find(':');
  char* end = nullptr;
  const long long step = colon == std::string::npos ? 0 : std::strtoll(spec.c_str(), &end, 10);
  if (colon == std::string::npos || end != spec.c_str() + colon || step < 1 ||
      colon + 1 == spec.size()) {
    fail_usage("--perturb '" + spec + "': expected STEP:TENSOR (e.g. 9:fc2.weight)");
  }
  if (repeats < 2) fail_usage("--perturb needs --repeats 2 or more (it perturbs the last repeat)");
  c->perturb_step = step;
  c->perturb_tensor = spec.substr(colon + 1);
}

// Re-runs two attempts up to step `to`, dumping per-tensor hashes (and the
// output of every module that reports one, forward and backward) from step
// `from`, and names the first differing (step, tensor or module, phase).
Localised localise(const std::string& dir, const Attempt& a, const Attempt& b, std::int64_t from,
                   std::int64_t to) {
  std::vector<std::vector<json>> dumps;
  for (const Attempt* p : {&a, &b}) {
    const std::string run_dir = join_path(dir, "dump_" + p->name);
    const std::string file = run_dir + ".tensors.jsonl";
    const std::string log = run_dir + ".log";
    RunControl c = p->control;
    c.dump_from = std::max<std::int64_t>(1, from);
    c.dump_path = file;
    c.stop_at = to;
    ChildResult r = run_child({with_run_dir(p->argv, run_dir), control_env(c), log},
                              /*kill_when_stopped=*/true);
    if (!r.killed && r.exit_code != 0) {
      Localised l;
      l.step = to;
      l.text = "first divergence: step " + std::to_string(to) +
               " (re-running to dump tensors failed; see " + log + ")";
      return l;
    }
    dumps.push_back(read_jsonl_file(file));
  }
  Localised l = first_dump_divergence(dumps[0], dumps[1]);
  if (l.step >= 0) return l;
  l.step = to;
  l.reproduced = false;
  l.text = b.interrupt
               ? "first divergence: step " + std::to_string(to) +
                     " (trace); without the interruption every tensor is identical, so the "
                     "difference comes from the kill and resume"
               : "first divergence: step " + std::to_string(to) +
                     " (trace); every tensor was identical when re-run, so the difference did "
                     "not reproduce (nondeterministic execution)";
  return l;
}

// Why an attempt differs from the reference, from what distinguishes it.
Cause attempt_cause(const Attempt& a, const Localised& l, const RunRecord& reference) {
  if (a.control.perturb_step > 0) {
    return {"perturbation", "the deliberate perturbation of " + a.control.perturb_tensor +
                                " after step " + std::to_string(a.control.perturb_step) +
                                " (self-test)"};
  }
  if (a.interrupt && !l.reproduced) {
    return {"resume", "the kill and resume: the resumed run does not continue bit-exactly"};
  }
  json diff = {{"config", json::array()},
               {"data", json::array()},
               {"env", json::array()},
               {"runtime", json::array()}};
  const auto eq = a.variation.find('=');
  if (a.variation.rfind("runtime.", 0) == 0 && eq != std::string::npos) {
    const std::string key = a.variation.substr(8, eq - 8);
    diff["runtime"].push_back({{"key", key},
                               {"a", json_at(reference.run, "runtime." + key)},
                               {"b", a.variation.substr(eq + 1)}});
  }
  return likely_cause(diff, reference.config, l);
}

// verify.json in the verify directory, and verifications/verify.json in each
// attempt's run directory: what was compared and what was found.
json record_outcome(const std::string& dir, const std::vector<Attempt>& attempts,
                    const std::vector<RunRecord>& records, const VerifyResult& res) {
  json variations = json::array();
  bool resume_checked = false;
  for (const Attempt& a : attempts) {
    variations.push_back(a.variation);
    resume_checked = resume_checked || a.interrupt;
  }
  json record = {{"verify_dir", dir},
                 {"when", now_iso8601()},
                 {"identical", res.identical},
                 {"runs", static_cast<std::int64_t>(attempts.size())},
                 {"variations", variations},
                 {"resume_checked", resume_checked},
                 {"reference_state_sha256", records.empty() ? "" : records[0].state_sha256()},
                 {"divergence", nullptr}};
  if (!res.identical) {
    record["divergence"] = {{"step", res.divergence_step},
                            {"text", res.divergence},
                            {"cause", {{"kind", res.cause.kind}, {"text", res.cause.text}}}};
  }
  write_json_atomic(join_path(dir, layout::kVerifyRecord), record);
  for (const RunRecord& r : records) record_verification(r.dir, "verify", record);
  return record;
}

// Runs every attempt into dir/<name>, compares, localises.
VerifyResult run_attempts(const std::string& dir, const std::string& title,
                          std::vector<Attempt> attempts, std::int64_t interrupt_at,
                          std::ostream* out) {
  VerifyResult res;
  res.dir = dir;
  if (out) {
    *out << "verify " << title << ": " << attempts.size() << " runs in " << dir << "\n"
         << std::flush;
  }
  std::vector<RunRecord> records;
  for (Attempt& a : attempts) {
    const std::string run_dir = join_path(dir, a.name);
    const std::string log = run_dir + ".log";
    const std::vector<std::string> argv = with_run_dir(a.argv, run_dir);
    if (a.interrupt) {
      RunControl kill = a.control;
      kill.stop_at = interrupt_at;
      if (kill.checkpoint_every == 0) {
        // The program's own cadence is unknown here: make sure a checkpoint
        // exists before the kill (checkpoints never change results).
        kill.checkpoint_every = std::max<std::int64_t>(1, interrupt_at / 2);
      }
      ChildResult k = run_child({argv, control_env(kill), log}, /*kill_when_stopped=*/true);
      if (!k.killed && k.exit_code == 0) {
        fail_usage("--interrupt-at " + std::to_string(interrupt_at) +
                   ": the run finished before that step (it has fewer steps)");
      }
      if (!k.killed) {
        fail_run("run " + a.name + " failed before step " + std::to_string(interrupt_at) +
                 " with exit code " + std::to_string(k.exit_code) + "; see " + log);
      }
    }
    ChildResult r = run_child({argv, control_env(a.control), log});
    if (r.exit_code != 0) {
      fail_run("run " + a.name + " (" + a.variation + ") failed with " +
               (r.signal ? "signal " + std::to_string(r.signal)
                         : "exit code " + std::to_string(r.exit_code)) +
               "; see " + log);
    }
    if (!is_run_dir(run_dir)) {
      fail_run("run " + a.name + " exited 0 but wrote no run directory at " + run_dir +
               " (does the program take its run directory from {run_dir}?)");
    }
    records.push_back(load_run(run_dir));
    if (records.back().state_sha256().empty()) {
      fail_run("run " + a.name + " exited 0 but did not complete its run in " + run_dir +
               " (no summary.json: does the program call Run::finish?)");
    }
    if (a.interrupt) {
      // Say where the resumed attempt started: the proof is in resuming.
      const json attempts_json = json_at(records.back().run, "attempts");
      std::int64_t from = -1;
      if (attempts_json.is_array() && !attempts_json.empty()) {
        from = attempts_json.back().value("resumed_from_step", static_cast<std::int64_t>(-1));
      }
      a.variation = "SIGKILL at step " + std::to_string(interrupt_at) + ", resumed from " +
                    std::to_string(from);
    }
  }

  res.identical = true;
  std::int64_t first_bad = -1;
  res.runs = json::array();
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const std::string what = i == 0 ? "" : compare_results(records[0], records[i]);
    const std::string verdict = i == 0         ? "reference"
                                : what.empty() ? "identical"
                                               : "DIFFERS (" + what + ")";
    if (!what.empty()) {
      res.identical = false;
      if (first_bad < 0) first_bad = static_cast<std::int64_t>(i);
    }
    res.runs.push_back({{"run", attempts[i].name},
                        {"variation", attempts[i].variation},
                        {"dir", records[i].dir},
                        {"state_hash", records[i].state_hash()},
                        {"verdict", verdict}});
  }
  if (out) {
    *out << std::left << std::setw(5) << "run" << std::setw(38) << "variation" << std::setw(18)
         << "state_hash"
         << "verdict\n";
    for (const auto& r : res.runs) {
      *out << std::setw(5) << r["run"].get<std::string>() << std::setw(38)
           << r["variation"].get<std::string>() << std::setw(18)
           << r["state_hash"].get<std::string>() << r["verdict"].get<std::string>() << "\n";
    }
    *out << std::flush;
  }
  if (!res.identical) {
    const auto bad = static_cast<std::size_t>(first_bad);
    const TraceDivergence t = first_trace_divergence(records[0].trace, records[bad].trace);
    const std::int64_t to =
        t.step > 0 ? t.step : static_cast<std::int64_t>(records[0].trace.size());
    const Localised l = localise(dir, attempts[0], attempts[bad], t.last_equal_state + 1, to);
    res.divergence = l.text;
    res.divergence_step = l.step;
    res.cause = attempt_cause(attempts[bad], l, records[0]);
    if (out) {
      *out << "NOT identical: " << attempts[bad].variation << " differs from the reference\n"
           << res.divergence << "\n"
           << "likely cause (" << res.cause.kind << "): " << res.cause.text << "\n";
    }
  } else if (out) {
    *out << "all " << attempts.size() << " runs identical (metrics, trace, state hash)\n";
  }
  res.record = record_outcome(dir, attempts, records, res);
  return res;
}

// "runtime.KEY=V1,V2,..." for a command, whose keys verify cannot know:
// checked for shape only (the program rejects a key or value it does not
// have, and verify reports that run's failure).
KeyValues parse_runtime_values(const std::string& spec) {
  const std::string where = "--vary '" + spec + "'";
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) fail_usage(where + ": expected runtime.KEY=V1,V2,...");
  KeyValues kv{spec.substr(0, eq), {}};
  if (kv.key.rfind("runtime.", 0) != 0 || kv.key.size() == 8) {
    fail_usage(where +
               ": only runtime.* keys can be varied (other keys are part of the run identity "
               "and are expected to change results)");
  }
  std::string rest = spec.substr(eq + 1);
  std::size_t pos = 0;
  while (true) {
    const auto comma = rest.find(',', pos);
    const std::string v =
        rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (v.empty()) {
      fail_usage(where + ": empty value at position " + std::to_string(kv.values.size() + 1) +
                 " (expected runtime.KEY=V1,V2,... with no empty entries)");
    }
    kv.values.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return kv;
}

std::vector<Attempt> repeats(int n, const std::vector<std::string>& argv,
                             const std::string& perturb) {
  if (n < 1) fail_usage("--repeats: expected at least 1");
  std::vector<Attempt> out;
  for (int k = 1; k <= n; ++k) {
    out.push_back({"r" + std::to_string(k), k == 1 ? "reference" : "repeat", argv, {}, false});
  }
  if (!perturb.empty()) {
    parse_perturb(perturb, n, &out.back().control);
    out.back().variation =
        "perturbed after step " + std::to_string(out.back().control.perturb_step) + " (self-test)";
  }
  return out;
}

// Records what verify found in every run directly under output_dir whose
// config.json holds the same bytes as the reference attempt's (the run of
// this identity, <output_dir>/<run_id>/, or one trained there under another
// name), as verifications/<name>.json: `runs` and `report` show it. Says
// where on `out`.
std::vector<std::string> record_in_runs_of_identity(const std::string& output_dir,
                                                    const std::string& reference_dir,
                                                    const std::string& name,
                                                    const VerifyResult& res, std::ostream* out) {
  std::vector<std::string> recorded;
  const std::string reference_config = join_path(reference_dir, layout::kConfig);
  if (!path_exists(reference_config)) return recorded;
  const std::string identity = read_file(reference_config);
  for (const auto& child : list_dir(output_dir)) {
    const std::string dir = join_path(output_dir, child);
    if (child[0] == '.' || !is_run_dir(dir)) continue;
    try {
      if (read_file(join_path(dir, layout::kConfig)) != identity) continue;
      record_verification(dir, name, res.record);
      recorded.push_back(dir);
    } catch (const Error&) {
      continue;  // unreadable: not the run of this identity as far as verify can tell
    }
  }
  if (out) {
    for (const auto& d : recorded) *out << "verdict recorded in " << d << "\n";
    if (recorded.empty()) {
      *out << "no run of this identity under " << output_dir << " (e.g. "
           << join_path(output_dir, sha1_hex(identity).substr(0, 8))
           << "/) to record the verdict in; the attempts hold it\n";
    }
    *out << std::flush;
  }
  return recorded;
}

void add_interrupt(std::int64_t at, const std::vector<std::string>& argv, RunControl c,
                   std::vector<Attempt>* attempts) {
  if (at <= 0) return;
  attempts->push_back({"k" + std::to_string(attempts->size() + 1),
                       "SIGKILL at step " + std::to_string(at) + ", resumed", argv, c, true});
}

}  // namespace

Localised localise_runs(const RunRecord& a, const RunRecord& b, std::int64_t from, std::int64_t to,
                        const std::string& self_exe, const std::string& work_dir) {
  std::vector<Attempt> pair;
  for (const RunRecord* r : {&a, &b}) {
    const json trainer = json_at(r->run, "trainer");
    if (!trainer.is_string() || trainer.get<std::string>().rfind("ml-train", 0) != 0) {
      Localised l;
      l.step = to;
      l.reproduced = false;
      l.text = "first divergence: step " + std::to_string(to) + " (" + r->dir +
               " was trained by another program; verify -- COMMAND localises its divergence)";
      return l;
    }
    // The run's identity and the runtime it recorded, as reproduce re-runs it.
    json full = r->config;
    const json runtime = json_at(r->run, "runtime");
    if (runtime.is_object()) full["runtime"] = runtime;
    full["runtime"]["progress"] = false;
    const std::string name = pair.empty() ? "a" : "b";
    const std::string cfg_file = join_path(work_dir, name + ".config.json");
    write_json_atomic(cfg_file, full);
    // A deliberate perturbation the run recorded (verify's self-test) is
    // part of what made it: the re-run applies it again.
    RunControl control;
    const json perturb = recorded_perturbation(*r);
    if (perturb.is_object()) {
      control.perturb_step = perturb.value("step", static_cast<std::int64_t>(0));
      control.perturb_tensor = perturb.value("tensor", "");
      control.perturb_nan = perturb.value("nan", false);
    }
    pair.push_back({name,
                    name,
                    {self_exe, "train", "-c", cfg_file, "--run-dir", kRunDirPlaceholder},
                    control,
                    false});
  }
  return localise(work_dir, pair[0], pair[1], from, to);
}

VerifyResult verify(const Config& cfg, const VerifyOptions& opt) {
  // Everything is checked before the verify directory is created; the
  // attempts' command lines get the config file's path once it exists.
  std::vector<Attempt> attempts = repeats(opt.repeats, {}, opt.perturb);
  for (const auto& v : opt.vary) {
    const KeyValues kv = parse_key_values(v, "--vary", cfg);
    if (kv.key.rfind("runtime.", 0) != 0) {
      fail_usage("--vary '" + v +
                 "': only runtime.* keys can be varied (other keys are part of "
                 "the run identity and are expected to change results)");
    }
    for (const auto& value : kv.values) {
      attempts.push_back({"v" + std::to_string(attempts.size() + 1),
                          kv.key + "=" + value,
                          {kv.key + "=" + value},
                          {},
                          false});
    }
  }
  RunControl kill;
  if (cfg.runtime.checkpoint_every > 0 && cfg.runtime.checkpoint_every <= opt.interrupt_at) {
    kill.checkpoint_every = cfg.runtime.checkpoint_every;  // the config's own checkpoints
  }
  add_interrupt(opt.interrupt_at, {}, kill, &attempts);

  const std::string run_id = cfg.run_id();
  const std::string dir =
      claim_numbered_dir(join_path(join_path(cfg.runtime.output_dir, layout::kVerifyDir), run_id));
  const std::string cfg_file = join_path(dir, layout::kFullConfig);
  write_json_atomic(cfg_file, cfg.to_json());
  for (Attempt& a : attempts) {
    std::vector<std::string> argv = {opt.self_exe,
                                     "train",
                                     "-c",
                                     cfg_file,
                                     "--run-dir",
                                     kRunDirPlaceholder,
                                     "runtime.progress=false"};
    argv.insert(argv.end(), a.argv.begin(), a.argv.end());  // the variation's override
    a.argv = argv;
  }
  VerifyResult res = run_attempts(dir, run_id, attempts, opt.interrupt_at, opt.out);
  // The run of this identity, if there is one, learns what verify found:
  // `runs` and `report` show it next to the run's result.
  res.recorded_in =
      record_in_runs_of_identity(cfg.runtime.output_dir, join_path(dir, attempts[0].name),
                                 "verify-" + dir.substr(dir.rfind('/') + 1), res, opt.out);
  return res;
}

VerifyResult verify_command(const std::vector<std::string>& command, const VerifyOptions& opt) {
  if (command.empty()) fail_usage("verify --: no command given");
  bool has_dir = false;
  for (const auto& a : command)
    has_dir = has_dir || a.find(kRunDirPlaceholder) != std::string::npos;
  if (!has_dir) {
    fail_usage("verify -- " + command[0] +
               ": no argument holds {run_dir}; the command must write "
               "its run into the directory verify gives it");
  }
  if (!program_on_path(command[0])) {
    fail_usage("verify -- " + command[0] + ": not found or not executable");
  }
  std::vector<Attempt> attempts = repeats(opt.repeats, command, opt.perturb);
  // A variation is one more argument, KEY=VALUE, for the program's own
  // config to apply (ConfigSpec::parse does; later arguments win).
  for (const auto& v : opt.vary) {
    const KeyValues kv = parse_runtime_values(v);
    for (const auto& value : kv.values) {
      std::vector<std::string> argv = command;
      argv.push_back(kv.key + "=" + value);
      attempts.push_back(
          {"v" + std::to_string(attempts.size() + 1), kv.key + "=" + value, argv, {}, false});
    }
  }
  add_interrupt(opt.interrupt_at, command, {}, &attempts);

  std::string joined;
  for (const auto& a : command) joined += a + '\0';
  const std::string id = "cmd-" + sha1_hex(joined).substr(0, 8);
  const std::string out_dir = opt.output_dir.empty() ? "runs" : opt.output_dir;
  const std::string dir = claim_numbered_dir(join_path(join_path(out_dir, layout::kVerifyDir), id));
  VerifyResult res = run_attempts(dir, id, attempts, opt.interrupt_at, opt.out);
  // As for a config: the program's run of this identity under the output
  // directory learns the verdict (verify-cmd-<hash>-<n>, one per verify).
  res.recorded_in = record_in_runs_of_identity(
      out_dir, join_path(dir, attempts[0].name),
      "verify-" + id + "-" + dir.substr(dir.rfind('/') + 1), res, opt.out);
  return res;
}

}  // namespace mltrain
