#!/usr/bin/env bash
# The main job end to end: a complete, self-identifying run directory; G2
# (same config twice => identical metrics, trace and state hash); completed
# runs are not retrained; --rerun compares; bad data exits 2 naming file:line.
source "$(dirname "$0")/lib.sh"
write_small_config

# `ml-train [flags]` with no subcommand means train.
"$ML_TRAIN" -c small.yaml --seed 7 >first.txt
dir=$(run_dir_of first.txt)
[ -d "$dir" ] || fail "no run dir in output"
for f in config.json run.json env.json data.json vocab.txt metrics.jsonl trace.jsonl summary.json model.pt checkpoints/last.pt; do
  [ -s "$dir/$f" ] || fail "missing $f"
done
want_id=$("$PYTHON" -c 'import hashlib,sys; print(hashlib.sha1(open(sys.argv[1],"rb").read()).hexdigest()[:8])' "$dir/config.json")
[ "$(basename "$dir")" = "$want_id" ] || fail "run dir $(basename "$dir") != sha1(config.json)[:8] $want_id"
[ "$(json_get "$dir/run.json" status)" = completed ] || fail "status not completed"
[ "$(json_get "$dir/run.json" seeding.seed)" = 7 ] || fail "seeding record"
[ "$(json_get "$dir/run.json" seeding.deterministic_algorithms)" = True ] || fail "deterministic not applied"
[ "$(wc -l <"$dir/metrics.jsonl")" -eq 2 ] || fail "metrics.jsonl should have 2 epochs"
grep -q '"val_acc"' "$dir/metrics.jsonl" || fail "no val_acc"
grep -q "^state_hash $(json_get "$dir/summary.json" state_hash)$" first.txt || fail "state hash not printed"
grep -q "^epoch 2/2 .*val_acc" first.txt || fail "per-epoch val accuracy not printed"
[ "$(json_get "$dir/data.json" files.0.rows)" = 200 ] || fail "data.json rows"
[ "$(json_get "$dir/data.json" labels)" = '["ham", "spam"]' ] || fail "labels"
steps=$(json_get "$dir/summary.json" steps)
[ "$(wc -l <"$dir/trace.jsonl")" -eq "$steps" ] || fail "trace has one line per step"

# Same config, another output dir: bit-identical everything (G2).
"$ML_TRAIN" -c small.yaml --seed 7 runtime.output_dir="$WORK/runs2" >second.txt
dir2=$(run_dir_of second.txt)
[ "$(hash_of "$dir")" = "$(hash_of "$dir2")" ] || fail "state hash differs between identical runs"
cmp "$dir/trace.jsonl" "$dir2/trace.jsonl" || fail "trace differs"
strip() { "$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l); [d.pop(k) for k in ("seconds", "train_seconds", "eval_seconds")]; print(json.dumps(d, sort_keys=True))' "$1"; }
[ "$(strip "$dir/metrics.jsonl")" = "$(strip "$dir2/metrics.jsonl")" ] || fail "metrics differ"

# A different seed trains a different model.
"$ML_TRAIN" -c small.yaml --seed 8 >third.txt
[ "$(hash_of "$(run_dir_of third.txt)")" != "$(hash_of "$dir")" ] || fail "seed 8 == seed 7"

# A completed run is reported, not retrained; --rerun trains into reruns/1.
before=$(stat -c %Y "$dir/model.pt")
"$ML_TRAIN" -c small.yaml --seed 7 >again.txt
grep -q "already completed" again.txt || fail "completed run was not reported"
[ "$(stat -c %Y "$dir/model.pt")" = "$before" ] || fail "completed run was overwritten"
"$ML_TRAIN" train -c small.yaml --seed 7 --rerun >rerun.txt
grep -q "rerun 1: state_hash .* matches the original" rerun.txt || { cat rerun.txt; fail "rerun"; }
[ -f "$dir/reruns/1/summary.json" ] || fail "no reruns/1"

# Each architecture trains on the sample (tiny sizes), CSV input included.
for arch in cnn transformer; do
  "$ML_TRAIN" -c small.yaml model.arch=$arch model.num_heads=2 training.epochs=1 >arch.txt
  grep -q "^state_hash " arch.txt || fail "$arch did not finish"
done
"$ML_TRAIN" -c small.yaml data.train_path="$SOURCE_DIR/data/sample/train.csv" training.epochs=1 >csv.txt
grep -q "200 train" csv.txt || fail "csv input"

# Fine-tuning from a finished run records the parent.
"$ML_TRAIN" -c small.yaml model.init_from="$dir" training.epochs=1 training.lr=0.001 >ft.txt
ftdir=$(run_dir_of ft.txt)
[ "$(json_get "$ftdir/run.json" init_from.run_id)" = "$(basename "$dir")" ] || fail "parent run_id"
[ "$(json_get "$ftdir/run.json" init_from.state_hash)" = "$(json_get "$dir/summary.json" state_hash)" ] || fail "parent hash"

# Bad data: exit 2, one line, file:line.
printf '{"text": "ok", "label": "ham"}\n{"text": "broken", "label": }\n' >bad.jsonl
expect_rc 2 "$ML_TRAIN" -c small.yaml data.train_path="$WORK/bad.jsonl"
grep -q "bad.jsonl:2:[0-9]*: invalid JSON" err.txt || fail "data error does not name file:line"
[ "$(wc -l <err.txt)" -eq 1 ] || fail "more than one error line"
printf '{"text": "ok", "label": "eggs"}\n' >newlabel.jsonl
expect_rc 2 "$ML_TRAIN" -c small.yaml data.val_path="$WORK/newlabel.jsonl"
grep -q "newlabel.jsonl:1: label \"eggs\" does not occur in the training split" err.txt || fail "label error"
expect_rc 2 "$ML_TRAIN" -c small.yaml data.train_path="$WORK/nope.jsonl"
grep -q "nope.jsonl: data file not found" err.txt || fail "missing data file"
n_runs=$(ls "$WORK/runs" | wc -l)
expect_rc 2 "$ML_TRAIN" -c small.yaml data.train_path="$WORK/nope.jsonl" training.lr=0.123
[ "$(ls "$WORK/runs" | wc -l)" -eq "$n_runs" ] || fail "a failed start left a run directory behind"
# Full-batch training: a batch_size above the training split (200 rows) is one
# step per epoch, not a memory refusal.
expect_rc 0 "$ML_TRAIN" -c small.yaml training.batch_size=1000000 training.epochs=2
grep -q "^state_hash " out.txt || { cat out.txt err.txt; fail "full-batch training"; }
full=$(ls -td "$WORK"/runs/*/ | head -1)
[ "$(json_get "$full/summary.json" steps)" = 2 ] || fail "full batch: not one step per epoch"
echo "train e2e ok"
