#!/usr/bin/env bash
# `verify`: identical reruns across num_workers and threads (G2, G3), a run
# SIGKILLed at a step and resumed (G4), and a deliberately perturbed run that
# must make verify fail naming the step and tensor (G5).
source "$(dirname "$0")/lib.sh"
write_small_config

expect_rc 0 "$ML_TRAIN" verify -c small.yaml --deterministic --repeats 2 \
  --vary runtime.num_workers=0,3 --vary runtime.threads=1,2 training.epochs=2
cat out.txt
grep -q "all 6 runs identical" out.txt || fail "verify did not report 6 identical runs"

expect_rc 0 "$ML_TRAIN" verify -c small.yaml --repeats 2 --vary runtime.trace_every=1,7 --interrupt-at 7 runtime.checkpoint_every=5
cat out.txt
grep -q "SIGKILL at step 7, resumed .* identical" out.txt || fail "interrupted run not identical"
grep -q "runtime.trace_every=7 .* identical" out.txt || fail "trace_every changed the verdict"
killed_dir=$(ls -d "$WORK"/runs/verify/*/2/k5)
"$PYTHON" - "$killed_dir/run.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["attempts"]
assert [x["status"] for x in a] == ["interrupted", "completed"], a
assert a[1]["resumed_from_step"] == 5, a  # last checkpoint before step 7
PY

# verify records what it found in the run of that identity, and `runs` and
# `report` show it: 3 identical runs, one of them killed and resumed.
expect_rc 0 "$ML_TRAIN" -c small.yaml runtime.checkpoint_every=5
expect_rc 0 "$ML_TRAIN" verify -c small.yaml --repeats 2 --interrupt-at 7 runtime.checkpoint_every=5
expect_rc 0 "$ML_TRAIN" runs --output-dir "$WORK/runs" --json
"$PYTHON" - out.txt <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["verification"] for r in rows] == ["verified 3\u00d7, resume-checked"], rows
PY
expect_rc 0 "$ML_TRAIN" report "$WORK/runs" -o index.html
grep -q "verified 3×, resume-checked" index.html || fail "index lacks the verification"

# With no checkpoint_every set, verify adds checkpoints so the kill has
# something to resume from (checkpoints never change results).
expect_rc 0 "$ML_TRAIN" verify -c small.yaml --repeats 1 --interrupt-at 7
grep -q "SIGKILL at step 7, resumed from 6 .* identical" out.txt || { cat out.txt; fail "interrupt without checkpoint_every"; }

# The self-test: one parameter perturbed after step 9 in the last repeat only;
# verify must fail and name the step and the tensor.
expect_rc 1 "$ML_TRAIN" verify -c small.yaml --repeats 2 --perturb 9:fc2.weight
cat out.txt
grep -q "DIFFERS" out.txt || fail "perturbed run not flagged"
grep -q "first divergence: step 9, tensor fc2.weight (param)" out.txt || fail "wrong localisation"
grep -q "^likely cause (perturbation): the deliberate perturbation of fc2.weight after step 9" out.txt ||
  fail "cause of the self-test not named"
expect_rc 1 "$ML_TRAIN" verify -c small.yaml --repeats 2 --perturb 13:embed.weight runtime.trace_every=100
grep -q "first divergence: step 13, tensor embed.weight (param)" out.txt || { cat out.txt; fail "wrong localisation (embed)"; }
# A control variable in verify's own environment does not reach its runs.
MLTRAIN_CONTROL='{"perturb": {"step": 3, "tensor": "fc2.weight"}}' \
  expect_rc 0 "$ML_TRAIN" verify -c small.yaml --repeats 2 training.epochs=1
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --repeats 1 --perturb 9:fc2.weight
grep -q "needs --repeats 2" err.txt || fail "perturb without a repeat to compare"
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --perturb fc2.weight
grep -q "expected STEP:TENSOR" err.txt || fail "bad --perturb"

# verify -- COMMAND: any program that writes its run into {run_dir}; here the
# built-in trainer itself, started as a plain command. Like a config's
# verify, it records the verdict in the run of that identity under the
# output directory, which `runs` then shows verified.
expect_rc 0 "$ML_TRAIN" -c small.yaml runtime.output_dir="$WORK/cmdruns"
cmd_run=$(ls -d "$WORK"/cmdruns/*/config.json | xargs dirname)
expect_rc 0 "$ML_TRAIN" verify --repeats 2 --interrupt-at 5 --output-dir "$WORK/cmdruns" -- \
  "$ML_TRAIN" train -c small.yaml --run-dir "{run_dir}" runtime.progress=false
cat out.txt
grep -q "all 3 runs identical" out.txt || fail "verify -- COMMAND"
grep -q "SIGKILL at step 5, resumed from 4 .* identical" out.txt || fail "verify -- COMMAND interrupt"
ls -d "$WORK"/cmdruns/verify/cmd-*/1/r2 >/dev/null || fail "command attempts not under --output-dir"
grep -q "^verdict recorded in $cmd_run\$" out.txt || fail "verify -- COMMAND did not record in $cmd_run"
ls "$cmd_run"/verifications/verify-cmd-*-1.json >/dev/null || fail "no verifications/ record"
expect_rc 0 "$ML_TRAIN" runs --output-dir "$WORK/cmdruns"
grep "^$(basename "$cmd_run") " out.txt | grep -q "verified 3×, resume-checked" ||
  { cat out.txt; fail "runs does not show the command-verified run"; }
expect_rc 1 "$ML_TRAIN" verify --repeats 2 --perturb 6:fc1.bias --output-dir "$WORK/cmdruns" -- \
  "$ML_TRAIN" train -c small.yaml --run-dir "{run_dir}" runtime.progress=false
grep -q "first divergence: step 6, tensor fc1.bias (param)" out.txt || { cat out.txt; fail "command localisation"; }
expect_rc 2 "$ML_TRAIN" verify -- "$ML_TRAIN" train -c small.yaml
grep -q "no argument holds {run_dir}" err.txt || fail "command without {run_dir}"
expect_rc 2 "$ML_TRAIN" verify -- ./no-such-program {run_dir}
grep -q "not found or not executable" err.txt || fail "missing program"
expect_rc 2 "$ML_TRAIN" verify -c small.yaml -- "$ML_TRAIN" train --run-dir {run_dir}
grep -q "give the command its own arguments" err.txt || fail "config flags with a command"
expect_rc 1 "$ML_TRAIN" verify --repeats 1 --output-dir "$WORK/cmdruns" -- sh -c 'mkdir -p "$1"; echo {} > "$1/config.json"' sh {run_dir}
grep -q "did not complete its run" err.txt || { cat err.txt; fail "a program that does not finish"; }

# Only runtime keys may be varied; --interrupt-at past the end is an error.
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --vary training.lr=0.1,0.2
grep -q "only runtime.\* keys can be varied" err.txt || fail "non-runtime vary accepted"
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --vary runtime.num_workers=
grep -q "no values" err.txt || fail "empty --vary accepted"
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --vary runtime.num_workers=1,
grep -q "empty value" err.txt || fail "trailing comma in --vary accepted"
n_verify=$(ls "$WORK/runs/verify" | wc -l)
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --vary runtime.threads=0,x training.lr=0.031
[ "$(ls "$WORK/runs/verify" | wc -l)" -eq "$n_verify" ] || fail "a rejected verify left a directory"
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --repeats 1 --interrupt-at 100000
grep -q "finished before that step" err.txt || fail "interrupt past the end"
echo "verify e2e ok"
