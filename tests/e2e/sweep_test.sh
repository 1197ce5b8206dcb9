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
echo "report e2e ok"
