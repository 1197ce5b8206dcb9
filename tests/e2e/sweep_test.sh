#!/usr/bin/env bash
# sweep: seeds x hyperparameters, each combination an ordinary run (reused
# when already completed), aggregated as mean +- sample std over seeds.
source "$(dirname "$0")/lib.sh"
write_small_config
expect_rc 0 "$ML_TRAIN" sweep -c small.yaml --grid seed=1,2,3 --grid training.lr=0.01,0.02 --jobs 2
cat out.txt
sweep_dir=$(ls -d "$WORK"/runs/sweeps/*)
"$PYTHON" - "$sweep_dir/sweep.json" "$WORK/runs" <<'PY'
import json, os, statistics, sys
s = json.load(open(sys.argv[1]))
assert len(s["runs"]) == 6 and all(r["status"] == "completed" for r in s["runs"])
assert len({r["run_id"] for r in s["runs"]}) == 6
groups = {g["group"]: g for g in s["groups"]}
assert set(groups) == {"training.lr=0.01", "training.lr=0.02"}, groups.keys()
for name, g in groups.items():
    accs = [json.load(open(os.path.join(sys.argv[2], rid, "summary.json")))["val"]["acc"] for rid in g["runs"]]
    assert g["n"] == 3
    assert abs(g["val_acc"]["mean"] - statistics.mean(accs)) < 1e-12
    assert abs(g["val_acc"]["std"] - statistics.stdev(accs)) < 1e-12
print("aggregation ok")
PY
# Running the same sweep again reuses every completed run.
expect_rc 0 "$ML_TRAIN" sweep -c small.yaml --grid seed=1,2,3 --grid training.lr=0.01,0.02
[ "$(grep -l "already completed" "$sweep_dir"/*.log | wc -l)" -eq 6 ] || fail "completed runs were retrained"
expect_rc 2 "$ML_TRAIN" sweep -c small.yaml --grid training.lrr=0.1,0.2
grep -q "did you mean 'training.lr'" err.txt || fail "bad grid key"
expect_rc 2 "$ML_TRAIN" sweep -c small.yaml --grid training.lr=0.02,2e-2
grep -q "are the same config" err.txt || fail "duplicate grid values accepted"
expect_rc 2 "$ML_TRAIN" sweep -c small.yaml --grid runtime.num_workers=0,2
grep -q "use verify --vary" err.txt || fail "runtime grid key accepted"
echo "sweep e2e ok"

# runs: list, filter by a config key, sort by a metric.
expect_rc 0 "$ML_TRAIN" runs --output-dir "$WORK/runs" --where training.lr=0.02 --sort val_acc --json
"$PYTHON" - out.txt <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 3 and {r["seed"] for r in rows} == {1, 2, 3}, rows
accs = [r["val_acc"] for r in rows]
assert accs == sorted(accs, reverse=True), accs
print("runs ok")
PY
expect_rc 0 "$ML_TRAIN" runs --output-dir "$WORK/runs"
grep -q "^6 runs$" out.txt || { cat out.txt; fail "runs does not list the 6 runs"; }
expect_rc 0 "$ML_TRAIN" runs --output-dir "$WORK/runs" --csv
"$PYTHON" - out.txt <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 6 and all(r["status"] == "completed" for r in rows), rows
assert all(0 <= float(r["val_acc"]) <= 1 and r["verification"] == "never verified" for r in rows)
print("runs --csv ok")
PY
expect_rc 2 "$ML_TRAIN" runs --output-dir "$WORK/runs" --where model.arc=bow
grep -q "did you mean 'model.arch'" err.txt || fail "runs --where typo"
# Metrics: whatever the runs recorded (the built-in trainer's nested summary
# flattened, train_loss from metrics.jsonl), thresholds, lower-is-better
# sorting, and every metric aggregated by the sweep.
expect_rc 0 "$ML_TRAIN" runs --output-dir "$WORK/runs" --where training.lr=0.01 --where 'val_loss<100' --sort val_loss --json
"$PYTHON" - out.txt "$sweep_dir/sweep.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 3, rows
loss = [r["metrics"]["val_loss"] for r in rows]
assert loss == sorted(loss), loss  # lower is better: ascending
m = rows[0]["metrics"]
assert {"val_acc", "val_f1", "val_loss", "test_acc", "test_f1", "test_loss", "train_loss"} <= set(m), m
assert not {"val_n", "steps", "data_seconds", "lr"} & set(m), m
s = json.load(open(sys.argv[2]))
for g in s["groups"]:
    assert g["metrics"]["train_loss"]["n"] == 3 and "std" in g["metrics"]["test_loss"], g
print("runs metrics ok")
PY
expect_rc 0 "$ML_TRAIN" runs --output-dir "$WORK/runs" --where 'val_acc>2'
grep -q "^0 runs$" out.txt || { cat out.txt; fail "a metric threshold nobody meets"; }
expect_rc 2 "$ML_TRAIN" runs --output-dir "$WORK/runs" --where 'val_acc>high'
grep -q "expected a number after '>'" err.txt || fail "runs --where with a bad number"
expect_rc 2 "$ML_TRAIN" runs --output-dir "$WORK/runs" --sort val_mse
grep -q "no run records the metric 'val_mse'" err.txt || fail "runs --sort of a metric nobody recorded"
echo "runs e2e ok"

# report: self-contained HTML for a run and for the sweep.
run_id=$(json_get "$sweep_dir/sweep.json" runs.0.run_id)
expect_rc 0 "$ML_TRAIN" report "$WORK/runs/$run_id"
grep -q "runs/$run_id/report.html" out.txt || fail "report path not printed"
expect_rc 0 "$ML_TRAIN" report "$sweep_dir" -o "$WORK/sweep.html"
"$PYTHON" - "$WORK/runs/$run_id/report.html" "$WORK/sweep.html" "$run_id" "$WORK/runs/$run_id/summary.json" <<'PY'
import html.parser, json, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = []; self.text = []
    def handle_starttag(self, t, a): self.tags.append(t)
    def handle_data(self, d): self.text.append(d)
run, sweep, rid, summ = sys.argv[1:]
p = P(); p.feed(open(run).read())
body = " ".join(p.text)
assert p.tags.count("svg") == 4 and "polyline" in p.tags, p.tags  # step loss, epoch loss, val, lr
assert rid in body and json.load(open(summ))["state_sha256"] in body
assert "src=" not in open(run).read() and "href=" not in open(run).read()  # self-contained
q = P(); q.feed(open(sweep).read())
assert "training.lr=0.01" in " ".join(q.text) and "±" in " ".join(q.text)
print("report ok")
PY
expect_rc 2 "$ML_TRAIN" report "$WORK"
grep -q "neither a run directory" err.txt || fail "report on a non-run dir"
# --launcher slurm --dry-run: a valid sbatch array script with one task per
# point not completed yet; nothing is written or submitted.
: >sbatch.sh
: >err.txt
before=$(find "$WORK" | wc -l)
"$ML_TRAIN" sweep -c small.yaml --grid seed=4,5,6 --launcher slurm --dry-run \
  --sbatch-arg=--partition=debug >sbatch.sh 2>err.txt || { cat err.txt; fail "slurm dry run"; }
[ "$(find "$WORK" | wc -l)" = "$before" ] || fail "the dry run wrote files"
bash -n sbatch.sh || fail "the sbatch script is not valid bash"
head -1 sbatch.sh | grep -qx '#!/bin/bash' || fail "no shebang"
grep -qx '#SBATCH --array=[0-9,]*' sbatch.sh || { cat sbatch.sh; fail "no array line"; }
grep -qx '#SBATCH --partition=debug' sbatch.sh || fail "--sbatch-arg not passed"
grep -q '#SBATCH --output=.*task-%a.log' sbatch.sh || fail "no per-task log"
# Each task runs its point: run the script's case for every array index.
for t in $(sed -n 's/^#SBATCH --array=//p' sbatch.sh | tr ',' ' '); do
  cmd=$(sed -n "s/^  $t) exec //p" sbatch.sh | sed 's/ ;;$//')
  [ -n "$cmd" ] || fail "no command for task $t"
  echo "$cmd" | grep -q " train --wait -c " || fail "task $t does not train: $cmd"
done
tasks=$(sed -n 's/^#SBATCH --array=//p' sbatch.sh | tr ',' '\n' | wc -l)
echo "slurm dry run: $tasks array tasks"
# Submission: sbatch (a stand-in on PATH that records its arguments) gets the
# script the dry run printed, written into the sweep directory with the
# config it runs; a task trains its point; a point already trained is not
# submitted again.
mkdir -p bin
cat >bin/sbatch <<'SH'
#!/bin/bash
echo "$@" >"$(dirname "$0")/../sbatch.args"
echo "4242"
SH
chmod +x bin/sbatch
"$ML_TRAIN" sweep -c small.yaml --grid training.lr=0.03,0.04 --launcher slurm --dry-run >s2.sh
[ "$(sed -n 's/^#SBATCH --array=//p' s2.sh)" = "0,1" ] || { cat s2.sh; fail "2 pending points"; }
PATH="$WORK/bin:$PATH" "$ML_TRAIN" sweep -c small.yaml --grid training.lr=0.03,0.04 \
  --launcher slurm >sub.txt 2>&1 || { cat sub.txt; fail "submission"; }
grep -q "submitted job 4242" sub.txt || { cat sub.txt; fail "no job id"; }
script=$(awk '{print $NF}' sbatch.args)
grep -q -- "--parsable" sbatch.args || fail "sbatch not asked for a parsable answer"
cmp -s "$script" s2.sh || { diff "$script" s2.sh; fail "the submitted script is not the dry run's"; }
SLURM_ARRAY_TASK_ID=0 bash "$script" >task0.txt 2>&1 || { cat task0.txt; fail "array task 0 failed"; }
"$ML_TRAIN" sweep -c small.yaml --grid training.lr=0.03,0.04 --launcher slurm --dry-run >s3.sh
[ "$(sed -n 's/^#SBATCH --array=//p' s3.sh)" = "1" ] || { cat s3.sh; fail "the trained point was resubmitted"; }
set +e
SLURM_ARRAY_TASK_ID=7 bash "$script" >/dev/null 2>&1
[ $? = 2 ] || fail "an unknown array task did not exit 2"
PATH=/nonexistent "$ML_TRAIN" sweep -c small.yaml --grid training.lr=0.03,0.04 --launcher slurm >o.txt 2>&1
code=$?
set -e
[ $code = 2 ] && grep -q "sbatch is not on PATH" o.txt || { cat o.txt; fail "no sbatch: exit $code"; }
echo "report e2e ok"
