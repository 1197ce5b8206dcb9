#!/usr/bin/env bash
# Two identical sweeps at once: each run is trained once, both sweeps exit 0
# with complete groups, and sweep.json lists every run as completed. Two
# trains of one run at once: the second refuses (or, with --wait, waits and
# reports the completed run).
source "$(dirname "$0")/lib.sh"
write_small_config
grid=(sweep -c small.yaml --grid seed=1,2,3,4 --jobs 2)
("$ML_TRAIN" "${grid[@]}" >a.txt 2>a.err; echo $? >a.rc) &
("$ML_TRAIN" "${grid[@]}" >b.txt 2>b.err; echo $? >b.rc) &
wait
[ "$(cat a.rc)" = 0 ] || { cat a.txt a.err; fail "first sweep exit $(cat a.rc)"; }
[ "$(cat b.rc)" = 0 ] || { cat b.txt b.err; fail "second sweep exit $(cat b.rc)"; }
"$PYTHON" - "$WORK/runs" <<'PY'
import glob, json, os, sys
sweeps = glob.glob(os.path.join(sys.argv[1], "sweeps", "*", "sweep.json"))
assert len(sweeps) == 1, sweeps
s = json.load(open(sweeps[0]))
assert [r["status"] for r in s["runs"]] == ["completed"] * 4, s["runs"]
assert s["groups"][0]["n"] == 4, s["groups"]
for r in s["runs"]:
    attempts = json.load(open(os.path.join(sys.argv[1], r["run_id"], "run.json")))["attempts"]
    assert len(attempts) == 1, (r["run_id"], attempts)  # trained once
print("two sweeps ok")
PY
for f in a.txt b.txt; do grep -q "^(all) *4 " "$f" || { cat "$f"; fail "$f: group not complete"; }; done

# One run, two processes.
"$ML_TRAIN" -c small.yaml training.epochs=8 runtime.output_dir="$WORK/one" >first.txt 2>&1 &
pid=$!
for _ in $(seq 1 200); do [ -e "$WORK/one" ] && ls "$WORK"/one/*/trace.jsonl >/dev/null 2>&1 && break; sleep 0.05; done
outcome "second train" "$ML_TRAIN" -c small.yaml training.epochs=8 runtime.output_dir="$WORK/one"
[ "$RC" -eq 2 ] && grep -q "another process is training this run" err.txt || [ "$RC" -eq 0 ] ||
  fail "a second train of a running run"
outcome "second train --wait" "$ML_TRAIN" train --wait -c small.yaml training.epochs=8 runtime.output_dir="$WORK/one"
[ "$RC" -eq 0 ] || fail "train --wait"
wait "$pid"
grep -q "already completed\|state_hash" out.txt || { cat out.txt; fail "--wait did not report the run"; }
no_orphans "concurrency"
echo "concurrency faults ok"
