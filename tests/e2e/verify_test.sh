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

# With no checkpoint_every set, verify adds checkpoints so the kill has
# something to resume from (checkpoints never change results).
expect_rc 0 "$ML_TRAIN" verify -c small.yaml --repeats 1 --interrupt-at 7
grep -q "SIGKILL at step 7, resumed from 6 .* identical" out.txt || { cat out.txt; fail "interrupt without checkpoint_every"; }

# A perturbation of one gradient in run 2 only (test hook): verify must fail
# and name the step and the tensor.
export MLTRAIN_TEST_PERTURB="9:fc2.weight@2"
expect_rc 1 "$ML_TRAIN" verify -c small.yaml --repeats 2
cat out.txt
grep -q "DIFFERS" out.txt || fail "perturbed run not flagged"
grep -q "first divergence: step 9, tensor fc2.weight (grad)" out.txt || fail "wrong localisation"
MLTRAIN_TEST_PERTURB="13:embed.weight@2" expect_rc 1 "$ML_TRAIN" verify -c small.yaml --repeats 2 runtime.trace_every=100
grep -q "first divergence: step 13, tensor embed.weight (grad)" out.txt || { cat out.txt; fail "wrong localisation (embed)"; }
unset MLTRAIN_TEST_PERTURB

# Only runtime keys may be varied; --interrupt-at past the end is an error.
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --vary training.lr=0.1,0.2
grep -q "only runtime.\* keys can be varied" err.txt || fail "non-runtime vary accepted"
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --vary runtime.num_workers=
grep -q "no values" err.txt || fail "empty --vary accepted"
expect_rc 2 "$ML_TRAIN" verify -c small.yaml --repeats 1 --interrupt-at 100000
grep -q "finished before that step" err.txt || fail "interrupt past the end"
echo "verify e2e ok"
