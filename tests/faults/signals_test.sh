#!/usr/bin/env bash
# SIGINT, SIGTERM and SIGKILL at moments drawn from a fixed seed, sent to
# train, sweep and verify: the process ends (130 / 143 for a clean stop, or
# killed), leaves no orphan child, marks what it stopped interrupted, and the
# same command run again completes with the uninterrupted result.
source "$(dirname "$0")/lib.sh"
write_small_config
RANDOM=42
cfg=(-c small.yaml model.arch=cnn training.epochs=6 runtime.checkpoint_every=7)
"$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$WORK/ref" >ref.txt
want=$(hash_of "$(run_dir_of ref.txt)")

delay() { echo "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"; }

for sig in INT TERM KILL; do
  for i in 1 2; do
    out="$WORK/train_${sig}_$i"
    interrupt "$(delay)" "$sig" "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$out"
    case $sig/$RC in
      INT/130 | TERM/143 | KILL/137 | */0) ;;
      *) cat "$WORK/err.txt" >&2; fail "train SIG$sig: exit $RC" ;;
    esac
    if grep -q "^ml-train: error: interrupted by SIG$sig at step" err.txt; then
      # A clean stop: exactly one line, the run marked interrupted.
      [ "$(grep -c "^ml-train: error: " err.txt)" -eq 1 ] || { cat err.txt; fail "train SIG$sig: lines"; }
      [ "$(json_get "$(ls -d "$out"/*/)/run.json" status)" = interrupted ] || fail "train SIG$sig: status"
    elif [ "$RC" -ne 0 ] && [ "$sig" != KILL ]; then
      # Only before the run started (reading data: no run directory yet) or
      # after it completed (nothing left to write) does the signal's default
      # action end the process.
      if [ -e "$out" ] && [ -n "$(ls "$out")" ] &&
        [ "$(json_get "$(ls -d "$out"/*/)/run.json" status 2>/dev/null)" != completed ]; then
        cat err.txt
        fail "train SIG$sig: died mid-run"
      fi
    fi
    no_orphans "train SIG$sig"
    outcome "train SIG$sig resumed" "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$out"
    [ "$RC" -eq 0 ] || fail "train SIG$sig: the rerun failed"
    [ "$(hash_of "$(ls -d "$out"/*/)")" = "$want" ] || fail "train SIG$sig: resumed to another hash"
  done
done

# A sweep: its children stop cleanly (or die with it), none survives it.
grid=(sweep "${cfg[@]}" training.epochs=3 --grid seed=1,2,3 --jobs 2)
"$ML_TRAIN" "${grid[@]}" runtime.output_dir="$WORK/sweep_ref" >/dev/null
for sig in INT TERM KILL; do
  out="$WORK/sweep_$sig"
  interrupt "1.$((RANDOM % 5))" "$sig" "$ML_TRAIN" "${grid[@]}" runtime.output_dir="$out"
  case $sig/$RC in
    INT/130 | TERM/143 | KILL/137 | */0) ;;
    *) cat err.txt >&2; fail "sweep SIG$sig: exit $RC" ;;
  esac
  no_orphans "sweep SIG$sig"
  outcome "sweep SIG$sig again" "$ML_TRAIN" "${grid[@]}" runtime.output_dir="$out"
  [ "$RC" -eq 0 ] || fail "sweep SIG$sig: the rerun failed"
  for d in "$WORK"/sweep_ref/*/; do
    [ -f "$d/summary.json" ] || continue
    [ "$(hash_of "$d")" = "$(hash_of "$out/$(basename "$d")")" ] || fail "sweep SIG$sig: another result"
  done
done

# verify: stopped in the middle of its attempts, nothing left running.
for sig in INT TERM KILL; do
  interrupt "1.$((RANDOM % 5))" "$sig" "$ML_TRAIN" verify "${cfg[@]}" --repeats 3 \
    runtime.output_dir="$WORK/verify_$sig"
  case $sig/$RC in
    INT/130 | TERM/143 | KILL/137 | */0) ;;
    *) cat err.txt >&2; fail "verify SIG$sig: exit $RC" ;;
  esac
  no_orphans "verify SIG$sig"
done
echo "signal faults ok"
