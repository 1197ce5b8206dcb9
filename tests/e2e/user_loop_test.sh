#!/usr/bin/env bash
# A user's own training loop on the Run API (tests/user_loop/mlp_regression.cc:
# an MLP regression with SGD + momentum, LR decay, dropout, its own config
# and metric, data-parallel through GradShards) gets every guarantee through
# the experiment tools:
# - verify --vary runtime.nproc=1,2 --interrupt-at S -- COMMAND {run_dir}:
#   one process, two ranks, and a 2-rank job killed at step S and resumed
#   are bit-identical;
# - the run is listed by `runs --sort val_mse` (lower is better) with its own
#   metric and "verified";
# - its config: KEY=VALUE overrides, did-you-mean, ranges, --help;
# - two ranks started with torchrun's environment = one process.
source "$(dirname "$0")/lib.sh"
LOOP="$BUILD_DIR/mlp_regression"
[ -x "$LOOP" ] || fail "no $LOOP"

# Trained for real on two ranks into <output_dir>/<run_id>/ ...
"$LOOP" training.epochs=2 runtime.nproc=2 runtime.output_dir="$WORK/runs" >train.txt 2>&1 \
  || { cat train.txt; fail "2-rank training"; }
grep -q "^state_sha256 [0-9a-f]\{64\}$" train.txt || { cat train.txt; fail "no state hash"; }
# ... then verified: 2 ranks, 1 process, 2 ranks again, and 2 ranks killed
# at step 9 and resumed (the attempts' directories are verify's own).
"$ML_TRAIN" verify --repeats 1 --vary runtime.nproc=1,2 --interrupt-at 9 --output-dir "$WORK/runs" \
  -- "$LOOP" "{run_dir}" training.epochs=2 runtime.nproc=2 >o.txt 2>&1 \
  || { cat o.txt; fail "verify of the user loop on 1 and 2 ranks"; }
cat o.txt
grep -q "all 4 runs identical" o.txt || fail "no verdict"
grep -q "runtime.nproc=1" o.txt || fail "the 1-process attempt is missing"
# The verdict reaches the trained run: listed with its own metric and "verified".
"$ML_TRAIN" runs --output-dir "$WORK/runs" --sort val_mse >runs.txt 2>&1 || { cat runs.txt; fail "runs --sort val_mse"; }
cat runs.txt
grep -q "val_mse" runs.txt || fail "runs shows no val_mse column"
grep "verified" runs.txt | grep -qv "never verified" || fail "runs does not show the run as verified"
[ "$(tail -1 train.txt)" = "state_sha256 $("$PYTHON" -c 'import json,glob,sys; print(json.load(open(glob.glob(sys.argv[1] + "/*/summary.json")[0]))["state_sha256"])' "$WORK/runs")" ] \
  || fail "printed and recorded hashes differ"

# Two more seeds: `runs` sorts by the loop's own metric (lower is better),
# filters on it, and refuses a metric no run recorded.
for seed in 6 7; do
  "$LOOP" --seed $seed training.epochs=2 runtime.output_dir="$WORK/runs" >/dev/null 2>&1 || fail "seed $seed"
done
id=$(basename "$(dirname "$(dirname "$(ls "$WORK"/runs/*/verifications/verify-cmd-*.json | head -1)")")")
"$ML_TRAIN" runs --output-dir "$WORK/runs" --sort val_mse --json >runs.json 2>err.txt || { cat err.txt; fail "runs --json"; }
"$PYTHON" - runs.json "$id" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
mse = [r["metrics"]["val_mse"] for r in rows]
assert len(mse) == 3 and mse == sorted(mse), mse  # lower is better: ascending
assert all("val_acc" not in r["metrics"] and "train_mse" in r["metrics"] for r in rows), rows
v = {r["run_id"]: r["verification"] for r in rows}
assert v[sys.argv[2]].startswith("verified"), v
assert sorted(v.values()).count("never verified") == 2, v
PY
best=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["metrics"]["val_mse"])' runs.json)
"$ML_TRAIN" runs --output-dir "$WORK/runs" --where "val_mse<=$best" >o.txt 2>&1 || { cat o.txt; fail "--where"; }
grep -q "^1 run$" o.txt || { cat o.txt; fail "runs --where val_mse<=best"; }
set +e
"$ML_TRAIN" runs --output-dir "$WORK/runs" --sort val_acc >o.txt 2>err.txt; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "no run records the metric 'val_acc'" err.txt || { cat err.txt; fail "--sort val_acc"; }

# Two ranks started with exactly torchrun's environment = one process.
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
for r in 0 1; do
  RANK=$r LOCAL_RANK=$r WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    OMP_NUM_THREADS=1 "$LOOP" "$WORK/tr" training.epochs=2 >rank$r.txt 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat rank0.txt rank1.txt; fail "a torchrun rank failed"; }; done
"$LOOP" "$WORK/one" training.epochs=2 >one.txt 2>&1 || { cat one.txt; fail "one process"; }
[ "$(tail -1 rank0.txt)" = "$(tail -1 one.txt)" ] || fail "torchrun ranks: $(tail -1 rank0.txt), one process: $(tail -1 one.txt)"
[ ! -s rank1.txt ] || { cat rank1.txt; fail "rank 1 printed"; }
grep -q '"world": 2' "$WORK/tr/run.json" || fail "run.json records no ranks"

# Its config, from its own declarations.
set +e
"$LOOP" "$WORK/bad" model.hiden=3 >out.txt 2>err.txt; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "unknown key: exit $rc"
grep -q "did you mean 'model.hidden'" err.txt || { cat err.txt; fail "no suggestion"; }
set +e
"$LOOP" "$WORK/bad" training.lr=-1 >out.txt 2>err.txt; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "key 'training.lr': -1.0 is out of range" err.txt || { cat err.txt; fail "range"; }
[ ! -e "$WORK/bad" ] || fail "a refused config left a run directory"
"$LOOP" --help >help.txt
grep -q "model.dropout" help.txt && grep -q "runtime.nproc" help.txt || fail "--help lists no keys"
echo "user loop e2e ok"
