#!/usr/bin/env bash
# Bytes that are not UTF-8 in what ml-train records from outside (a run
# directory's name on the command line, an environment variable) are
# recorded losslessly and never crash; in the config (the identity) they are
# one clear error naming the key. Output that cannot be written is an error.
source "$(dirname "$0")/lib.sh"
write_small_config
dir=$'odd\xffdir'
CUDA_VISIBLE_DEVICES=$'gpu\xfe' expect_rc 0 "$ML_TRAIN" -c small.yaml training.epochs=1 --run-dir "$dir"
"$PYTHON" - "$dir" <<'PY'
import json, os, sys
d = os.fsencode(sys.argv[1]).decode("utf-8", "surrogateescape")
run = json.load(open(os.path.join(d, "run.json")))
arg = run["attempts"][0]["command"][-1]
assert arg == {"bytes_hex": b"odd\xffdir".hex(), "text": "odd\ufffddir"}, arg
env = json.load(open(os.path.join(d, "env.json")))
assert env["env_vars"]["CUDA_VISIBLE_DEVICES"]["bytes_hex"] == b"gpu\xfe".hex(), env["env_vars"]
assert run["status"] == "completed"
PY
expect_rc 0 "$ML_TRAIN" diff "$dir" "$dir"
expect_rc 0 "$ML_TRAIN" report "$dir"

# A data path with such a byte: the config is the identity, recorded as text.
cp "$SOURCE_DIR/data/sample/val.jsonl" $'val\xe9.jsonl'
expect_rc 2 "$ML_TRAIN" -c small.yaml data.val_path=$'val\xe9.jsonl'
grep -q "key 'data.val_path': not valid UTF-8" err.txt || fail "non-UTF-8 data path"
[ "$(wc -l <err.txt)" -eq 1 ] || fail "one error line"

# Output that never arrives is a failure.
set +e
"$ML_TRAIN" config --json >/dev/full 2>err.txt
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "config --json > /dev/full exited $rc"
grep -q "cannot write to standard output" err.txt || fail "no write error"
echo "bytes e2e ok"
