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

# A data-parallel loop of the user's own (examples/dist_loop), built against
# the installed package with its precompiled headers: two ranks give the
# bits of one process; the index page of its runs shows its metric.
cmake -S "$SOURCE_DIR/examples/dist_loop" -B dist -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >>cmake.log
cmake --build dist >>cmake.log
dist/dist_loop "$WORK/dl/one" >one.txt 2>&1 || { cat one.txt; fail "dist_loop, one process"; }
dist/dist_loop "$WORK/dl/two" runtime.nproc=2 >two.txt 2>&1 || { cat two.txt; fail "dist_loop, two ranks"; }
[ "$(tail -1 one.txt)" = "$(tail -1 two.txt)" ] || fail "dist_loop: $(tail -1 one.txt) vs $(tail -1 two.txt)"
grep -q '"world": 2' "$WORK/dl/two/run.json" || fail "dist_loop's run.json records no ranks"
expect_rc 0 "$installed" report "$WORK/dl" -o dl_index.html
grep -q "'>val_acc</th>" dl_index.html || fail "index has no val_acc column"
echo "install e2e ok"
