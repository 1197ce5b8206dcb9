# Helpers shared by the end-to-end tests. Each test is a bash script run by
# ctest with ML_TRAIN (the binary), SOURCE_DIR and PYTHON in the environment.
set -euo pipefail

: "${ML_TRAIN:?ML_TRAIN must point at the ml-train binary}"
: "${SOURCE_DIR:?SOURCE_DIR must point at the source tree}"
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

WORK=$(mktemp -d /tmp/mltrain_e2e.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# A small, fast config on the shipped sample data (200 train / 40 val / 40 test).
write_small_config() {
  local path=${1:-small.yaml}
  cat >"$path" <<YAML
seed: 42
deterministic: true
data:
  train_path: $SOURCE_DIR/data/sample/train.jsonl
  val_path: $SOURCE_DIR/data/sample/val.jsonl
  test_path: $SOURCE_DIR/data/sample/test.jsonl
tokenizer: {max_len: 64, min_freq: 1}
model: {arch: bow, embed_dim: 16, hidden_dim: 16}
training: {epochs: 2, batch_size: 16, lr: 0.01}
runtime: {output_dir: $WORK/runs, progress: false, num_workers: 2, trace_every: 4}
YAML
}

# json_get FILE KEY.PATH -> value (strings unquoted).
json_get() {
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if not isinstance(v, (dict, list)) else json.dumps(v))
PY
}

# The run directory printed on the "run <id>  <dir>" line of train output.
run_dir_of() {
  awk '$1 == "run" && length($2) == 8 {print $3; exit}' "$1"
}

hash_of() {
  json_get "$1/summary.json" state_sha256
}

expect_rc() {
  local want=$1
  shift
  set +e
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
  local rc=$?
  set -e
  if [ "$rc" -ne "$want" ]; then
    echo "--- stdout" >&2; cat "$WORK/out.txt" >&2
    echo "--- stderr" >&2; cat "$WORK/err.txt" >&2
    fail "expected exit $want, got $rc: $*"
  fi
}
