#!/usr/bin/env bash
# The installed package: `cmake --install` gives a working ml-train that runs
# from any directory on the embedded dataset, and a CMake package that a
# program with its own model and loop (examples/custom_loop) builds against;
# that program gets run directories that verify, diff, report and runs read
# like any other, bit-exact reruns and kill -9 resume.
source "$(dirname "$0")/lib.sh"
: "${BUILD_DIR:?BUILD_DIR must point at the build tree}"
prefix="$WORK/prefix"
cmake --install "$BUILD_DIR" --prefix "$prefix" >install.log
installed="$prefix/bin/ml-train"

# Runs from anywhere: the default data paths resolve against the installed
# data directory; the identity (run id) does not change.
want_id=$(cd "$SOURCE_DIR" && "$ML_TRAIN" config training.epochs=1 --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
mkdir empty && cd empty
"$installed" train training.epochs=1 runtime.progress=false >train.txt
dir=$(run_dir_of train.txt)
[ "$(basename "$dir")" = "$want_id" ] || fail "run id $(basename "$dir") != $want_id from the source tree"
"$PYTHON" - "$dir/data.json" "$prefix" <<'PY'
import json, os, sys
files = json.load(open(sys.argv[1]))["files"]
assert [f["path"] for f in files] == ["data/spamassassin/%s.jsonl.gz" % s for s in ("train", "val", "test")]
for f in files:
    assert f["resolved"] == os.path.realpath(os.path.join(sys.argv[2], "share/ml-train", f["path"])), f
PY
cd "$WORK"

# A loop of the user's own, built against the installed package.
cmake -S "$SOURCE_DIR/examples/custom_loop" -B loop -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >cmake.log
cmake --build loop >>cmake.log
loop/custom_loop "$WORK/mine/a" >a.txt
loop/custom_loop "$WORK/mine/b" >b.txt
grep -q "^state_sha256 [0-9a-f]\{64\}$" a.txt || fail "custom_loop printed no state hash"
[ "$(hash_of mine/a)" = "$(hash_of mine/b)" ] || fail "two runs of custom_loop differ"
[ "$(tail -1 a.txt)" = "$(tail -1 b.txt)" ] || fail "printed hashes differ"
for f in config.json run.json env.json data.json metrics.jsonl trace.jsonl summary.json model.pt; do
  [ -s "mine/a/$f" ] || fail "custom_loop's run has no $f"
done
expect_rc 0 "$installed" diff mine/a mine/b
grep -q "state hash: .* -> match" out.txt || fail "diff of two custom_loop runs"
expect_rc 0 "$installed" report mine/a
"$PYTHON" - mine/a/report.html <<'PY'
import sys
html = open(sys.argv[1]).read()
# The per-step loss from its trace, and its own metric per epoch.
assert html.count("<svg") >= 2 and "<polyline" in html, "no curve"
assert "aria-label='Training loss per step" in html
assert "class='series' data-name='val_acc'" in html, "no val_acc curve"
PY
expect_rc 0 "$installed" runs --output-dir mine --sort val_acc
grep -q "^2 runs$" out.txt || { cat out.txt; fail "runs does not list custom_loop's runs"; }
loop/custom_loop mine/a >again.txt
grep -q "already completed" again.txt || fail "a completed run of custom_loop was retrained"

# verify drives the program through {run_dir} and the control contract.
expect_rc 0 "$installed" verify --repeats 2 --interrupt-at 5 --output-dir "$WORK/v" -- "$WORK/loop/custom_loop" "{run_dir}"
cat out.txt
grep -q "all 3 runs identical" out.txt || fail "verify of custom_loop"
grep -q "SIGKILL at step 5, resumed from 4 .* identical" out.txt || fail "kill -9 resume of custom_loop"
killed=$(ls -d "$WORK"/v/verify/cmd-*/1/k3)
"$PYTHON" - "$killed/run.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["attempts"]
assert [x["status"] for x in a] == ["interrupted", "completed"], a
assert a[0]["control"]["stop_at"] == 5 and a[1]["resumed_from_step"] == 4, a
PY
# Its deliberate nondeterminism (dropout from a clock-seeded generator from step 4).
expect_rc 1 "$installed" verify --repeats 2 --output-dir "$WORK/v" -- "$WORK/loop/custom_loop" "{run_dir}" --nondeterministic
cat out.txt
grep -q "first divergence: step 4, tensor embed.weight (grad)" out.txt || fail "nondeterminism not located"

# A loop that is not a classifier (examples/regression_loop): val_mse is a
# metric like any other. `verify --` records its verdict in the program's run
# of that identity, and `runs` sorts by val_mse (lower is better) and shows
# the run verified.
cmake -S "$SOURCE_DIR/examples/regression_loop" -B reg_loop -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >>cmake.log
cmake --build reg_loop >>cmake.log
reg_loop/regression_loop "$WORK/reg" >reg.txt
reg_dir=$(run_dir_of reg.txt)
reg_id=$(basename "$reg_dir")
[ -s "$reg_dir/summary.json" ] || fail "regression_loop wrote no run under $WORK/reg"
for seed in 6 7; do reg_loop/regression_loop --seed $seed "$WORK/reg" >/dev/null; done
expect_rc 0 "$installed" verify --repeats 2 --interrupt-at 5 --output-dir "$WORK/reg" -- \
  "$WORK/reg_loop/regression_loop" --run-dir "{run_dir}"
cat out.txt
grep -q "all 3 runs identical" out.txt || fail "verify of regression_loop"
grep -q "^verdict recorded in $reg_dir\$" out.txt || fail "verify -- did not record its verdict in $reg_dir"
[ "$(ls "$WORK"/reg/verify/cmd-*/1/r1/verifications/)" = verify.json ] || fail "no verdict in an attempt"
expect_rc 0 "$installed" runs --output-dir "$WORK/reg" --sort val_mse
cat out.txt
head -1 out.txt | grep -q "val_mse" || fail "runs has no val_mse column"
grep "^$reg_id " out.txt | grep -q "verified 3×, resume-checked" || fail "runs does not show $reg_id verified"
grep -q "^3 runs$" out.txt || fail "runs does not list the 3 regression runs"
expect_rc 0 "$installed" runs --output-dir "$WORK/reg" --sort val_mse --json
"$PYTHON" - out.txt "$reg_id" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
mse = [r["metrics"]["val_mse"] for r in rows]
assert len(mse) == 3 and mse == sorted(mse), mse  # lower is better: ascending
assert all("val_acc" not in r["metrics"] and "val_r2" in r["metrics"] for r in rows), rows
v = {r["run_id"]: r["verification"] for r in rows}
assert v[sys.argv[2]] == "verified 3\u00d7, resume-checked", v
assert sorted(v.values()).count("never verified") == 2, v
PY
best=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["metrics"]["val_mse"])' out.txt)
expect_rc 0 "$installed" runs --output-dir "$WORK/reg" --where "val_mse<=$best"
grep -q "^1 run$" out.txt || { cat out.txt; fail "runs --where val_mse<=best"; }
expect_rc 2 "$installed" runs --output-dir "$WORK/reg" --sort val_acc
grep -q "no run records the metric 'val_acc'" err.txt || fail "runs --sort of a metric nobody recorded"
[ "$(wc -l <err.txt)" -eq 1 ] || fail "more than one error line"
expect_rc 0 "$installed" report "$WORK/reg" -o reg_index.html
grep -q "'>val_mse</th>" reg_index.html || fail "index has no val_mse column"
grep -q "verified 3×, resume-checked" reg_index.html || fail "index does not show the verification"
echo "install e2e ok"
