#!/usr/bin/env bash
# G4: a training process killed with SIGKILL at any point (mid-epoch, at an
# epoch boundary, in the middle of writing a checkpoint, at an arbitrary
# moment) and started again with the same command ends bit-identical to an
# uninterrupted run.
source "$(dirname "$0")/lib.sh"
write_small_config
cfg=(-c small.yaml training.epochs=3 runtime.checkpoint_every=5 model.dropout=0.3 training.token_dropout=0.1)

"$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$WORK/ref" >ref.txt
ref_dir=$(run_dir_of ref.txt)
want=$(hash_of "$ref_dir")
steps=$(json_get "$ref_dir/summary.json" steps)

# Start a run that stops itself at a point (the control contract's stop_at
# or stop_in_checkpoint), SIGKILL it there, rerun the command.
kill_and_resume() {
  local name=$1 control=$2 stop=$3
  local out="$WORK/$name"
  MLTRAIN_CONTROL="$control" "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$out" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    case "$state" in T*) break ;; "") fail "$name: process ended before stopping at $stop" ;; esac
    sleep 0.05
  done
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  local dir
  dir=$(ls -d "$out"/*/)
  [ "$(json_get "$dir/run.json" status)" = running ] || fail "$name: status after kill"
  "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$out" >"$WORK/$name.txt"
  grep -q "resuming from checkpoint" "$WORK/$name.txt" || [ "$stop" -lt 5 ] || fail "$name: did not resume"
  [ "$(hash_of "$dir")" = "$want" ] || fail "$name: state hash differs after resume"
  cmp "$dir/trace.jsonl" "$ref_dir/trace.jsonl" || fail "$name: trace differs after resume"
  echo "$name: resumed to the identical state hash"
}

kill_and_resume mid_epoch '{"stop_at": 7}' 7
kill_and_resume epoch_boundary '{"stop_at": 13}' 13   # 13 batches per epoch: the last step of epoch 1
kill_and_resume second_epoch '{"stop_at": 21}' 21
kill_and_resume in_checkpoint_write '{"stop_in_checkpoint": 10}' 10
kill_and_resume before_first_checkpoint '{"stop_at": 3}' 3

# An arbitrary moment: SIGKILL from outside while it runs (no stop hook).
out="$WORK/anytime"
"$ML_TRAIN" "${cfg[@]}" training.epochs=6 runtime.output_dir="$out" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do
  n=$(cat "$out"/*/trace.jsonl 2>/dev/null | wc -l || true)
  [ "${n:-0}" -ge 30 ] && break
  sleep 0.02
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
"$ML_TRAIN" "${cfg[@]}" training.epochs=6 runtime.output_dir="$out" >/dev/null
"$ML_TRAIN" "${cfg[@]}" training.epochs=6 runtime.output_dir="$WORK/ref6" >ref6.txt
[ "$(hash_of "$(ls -d "$out"/*/)")" = "$(hash_of "$(run_dir_of ref6.txt)")" ] || fail "anytime kill"
echo "anytime: resumed to the identical state hash"

# A corrupt checkpoint is a clear error, not a crash.
bad="$WORK/bad"
MLTRAIN_CONTROL='{"stop_at": 7}' "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$bad" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in T*) break ;; esac
  sleep 0.05
done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
ckpt=$(ls "$bad"/*/checkpoints/last.pt)
head -c 100 "$ckpt" >"$ckpt.x" && mv "$ckpt.x" "$ckpt"
expect_rc 2 "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$bad"
grep -q "last.pt: corrupt checkpoint" err.txt || { cat err.txt; fail "corrupt checkpoint message"; }
# A run whose data changed while it was interrupted is not resumed.
cp "$SOURCE_DIR/data/sample/train.jsonl" mytrain.jsonl
chg="$WORK/changed"
MLTRAIN_CONTROL='{"stop_at": 7}' "$ML_TRAIN" "${cfg[@]}" data.train_path="$WORK/mytrain.jsonl" runtime.output_dir="$chg" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in T*) break ;; esac
  sleep 0.05
done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
head -n 150 "$SOURCE_DIR/data/sample/train.jsonl" >mytrain.jsonl
expect_rc 2 "$ML_TRAIN" "${cfg[@]}" data.train_path="$WORK/mytrain.jsonl" runtime.output_dir="$chg"
grep -q "data files changed since this run started" err.txt || { cat err.txt; fail "changed data resumed"; }

# diff works against a run that never finished.
expect_rc 0 "$ML_TRAIN" diff "$ref_dir" "$(ls -d "$bad"/*/)"
grep -q "state hash: .* -> DIFFER" out.txt || fail "diff against an unfinished run"
echo "resume e2e ok ($steps steps)"
