#!/usr/bin/env bash
# G5 and reproduce: diff names the config key that differs and where the
# traces diverge; reproduce re-runs a saved run and matches it, and refuses
# when a data file changed.
source "$(dirname "$0")/lib.sh"
write_small_config
"$ML_TRAIN" -c small.yaml >a.txt
"$ML_TRAIN" -c small.yaml training.lr=0.02 >b.txt
a=$(run_dir_of a.txt)
b=$(run_dir_of b.txt)

expect_rc 0 "$ML_TRAIN" diff "$a" "$b"
cat out.txt
grep -q "training.lr: 0.01 -> 0.02" out.txt || fail "diff does not name training.lr"
grep -q "trace: first diverging step 1 (lr: 0.01 vs 0.02)" out.txt || fail "diff does not give the first diverging step"
grep -q "DIFFER" out.txt || fail "diff says hashes match"
grep -q "^first divergence: step 1, tensor .* in module " out.txt || fail "diff does not re-run to the step"
grep -q "^likely cause (config): config key training.lr differs (0.01 vs 0.02)" out.txt ||
  fail "diff does not name the config key as the cause"

# The same config on a changed data file: the cause is the data file.
cp "$SOURCE_DIR/data/sample/train.jsonl" mytrain.jsonl
expect_rc 0 "$ML_TRAIN" -c small.yaml data.train_path="$WORK/mytrain.jsonl" --run-dir "$WORK/d1"
head -n 150 "$SOURCE_DIR/data/sample/train.jsonl" >mytrain.jsonl
expect_rc 0 "$ML_TRAIN" -c small.yaml data.train_path="$WORK/mytrain.jsonl" --run-dir "$WORK/d2"
expect_rc 0 "$ML_TRAIN" diff "$WORK/d1" "$WORK/d2"
grep -q "^likely cause (data): data file .*mytrain.jsonl (train)" out.txt || { cat out.txt; fail "data cause"; }

# The same inputs on a different thread count, with deterministic: false
# (LibTorch's LayerNorm gradient reduction depends on it; deterministic: true
# replaces it by a fixed split): an environment cause, located.
for t in 1 2; do
  expect_rc 0 "$ML_TRAIN" -c small.yaml deterministic=false model.arch=transformer \
    model.embed_dim=32 model.num_heads=2 \
    model.hidden_dim=64 training.epochs=1 runtime.threads=$t --run-dir "$WORK/t$t"
done
expect_rc 0 "$ML_TRAIN" diff "$WORK/t1" "$WORK/t2"
grep -q "^likely cause (environment): thread count differs (runtime.threads 1 vs 2)" out.txt ||
  { cat out.txt; fail "thread-count cause"; }
grep -q "^first divergence: step 1" out.txt || fail "thread-count divergence not located"
expect_rc 0 "$ML_TRAIN" diff "$a" "$b" --json
"$PYTHON" - out.txt <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert [c["key"] for c in d["config"]] == ["training.lr"], d["config"]
assert d["trace"]["first_diverging_step"] == 1 and not d["state_hash_match"] and not d["identical"]
assert d["cause"]["kind"] == "config" and d["divergence"]["step"] == 1, d["cause"]
PY
expect_rc 0 "$ML_TRAIN" diff "$a" "$a"
grep -q "state hash: .* -> match" out.txt || fail "self diff"

expect_rc 0 "$ML_TRAIN" reproduce "$a"
cat out.txt
grep -q "^MATCH" out.txt || fail "reproduce did not match"

# A run whose data file changed afterwards: refused, then allowed.
cp "$SOURCE_DIR/data/sample/val.jsonl" myval.jsonl
"$ML_TRAIN" -c small.yaml data.val_path="$WORK/myval.jsonl" >c.txt
c=$(run_dir_of c.txt)
echo '{"text": "one more", "label": "ham"}' >>myval.jsonl
expect_rc 1 "$ML_TRAIN" reproduce "$c"
grep -q "data changed: val .*myval.jsonl" out.txt || fail "changed data not named"
grep -q "refusing to reproduce" err.txt || fail "changed data not refused"
expect_rc 1 "$ML_TRAIN" reproduce "$c" --allow-data-change
grep -q "NO MATCH" out.txt || fail "changed validation data should change metrics"

rm myval.jsonl
expect_rc 2 "$ML_TRAIN" reproduce "$c"
grep -q "myval.jsonl: data file of the run (val split) not found" err.txt || fail "missing data file"

expect_rc 2 "$ML_TRAIN" diff "$a" "$WORK/nowhere"
expect_rc 2 "$ML_TRAIN" reproduce "$WORK"
grep -q "not an ml-train run directory" err.txt || fail "reproduce on a non-run dir"
echo "diff/reproduce e2e ok"
