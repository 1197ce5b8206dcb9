#!/usr/bin/env bash
# Every file of a run directory damaged in turn (truncated, a byte flipped,
# replaced by JSON of the wrong shape, deleted), for a completed run and for
# an interrupted one; then train (same config), diff, report and runs on it.
# Each must end usable (exit 0) or with one clear error line, and a completed
# run's result is never rewritten.
source "$(dirname "$0")/lib.sh"
write_small_config
cfg=(-c small.yaml training.epochs=2 runtime.checkpoint_every=5)

"$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$WORK/ref" >ref.txt
ref=$(run_dir_of ref.txt)
run_id=$(basename "$ref")
# An interrupted run: SIGKILLed right after step 12 (checkpoints at 5 and 10).
MLTRAIN_CONTROL='{"stop_at": 12}' "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$WORK/int0" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in T*) break ;; esac
  sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ -f "$WORK/int0/$run_id/checkpoints/prev.pt" ] || fail "no second checkpoint in the interrupted run"

mutate() {  # mutate FILE HOW
  local f=$1 how=$2
  case $how in
    truncate) head -c $(($(stat -c %s "$f") / 2)) "$f" >"$f.x" && mv "$f.x" "$f" ;;
    flip) "$PYTHON" -c 'import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
if b: b[len(b) // 2] ^= 0x20
open(p, "wb").write(b)' "$f" ;;
    wrongtype) case $f in
        *.jsonl) printf '[1, 2]\n{"step": "x", "loss": 1e999}\n' >"$f" ;;
        *.json) printf '{"status": 7, "files": {}, "labels": [1], "state_hash": 3, "val": [1e999]}' >"$f" ;;
        *) printf '{"not": "a checkpoint"}' >"$f" ;;
      esac ;;
    delete) rm -f "$f" ;;
  esac
}

files=(config.json run.json env.json data.json vocab.txt metrics.jsonl trace.jsonl summary.json
       model.pt checkpoints/last.pt checkpoints/prev.pt)
for src in ref int0; do
  for f in "${files[@]}"; do
    for how in truncate flip wrongtype delete; do
      out="$WORK/case"
      rm -rf "$out"
      mkdir -p "$out"
      cp -a "$WORK/$src/$run_id" "$out/"
      dir="$out/$run_id"
      [ -e "$dir/$f" ] || continue
      mutate "$dir/$f" "$how"
      before=$(result_of "$dir")
      name="$src/$f/$how"
      outcome "$name train" "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$out"
      train_rc=$RC
      if [ "$src" = ref ] && [ "$f" != summary.json ] && [ "$f" != model.pt ]; then
        [ "$(result_of "$dir")" = "$before" ] || fail "$name: a completed result was rewritten"
      fi
      if [ "$train_rc" -eq 0 ]; then
        # Usable: it is (or became) a complete run with the reference's result.
        [ "$(hash_of "$dir")" = "$(hash_of "$ref")" ] || fail "$name: trained to another state hash"
      fi
      # The records as read back (re-running to the divergence is diff_reproduce_test's).
      outcome "$name diff" "$ML_TRAIN" diff --no-rerun "$ref" "$dir"
      outcome "$name report" "$ML_TRAIN" report "$dir" -o "$WORK/r.html"
      outcome "$name runs" "$ML_TRAIN" runs --output-dir "$out"
    done
  done
done
# reproduce on damaged completed runs (it trains, so only a few).
for f in config.json summary.json data.json run.json; do
  rm -rf "$WORK/case" && mkdir -p "$WORK/case" && cp -a "$ref" "$WORK/case/"
  mutate "$WORK/case/$run_id/$f" wrongtype
  outcome "reproduce/$f" "$ML_TRAIN" reproduce "$WORK/case/$run_id"
done
no_orphans "run directory faults"
echo "run directory faults ok: $CASES cases"
