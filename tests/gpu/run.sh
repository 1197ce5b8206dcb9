#!/usr/bin/env bash
# Every guarantee on a GPU (not part of `make test`: CI has no GPU).
#
#   tests/gpu/run.sh [OUT_DIR]
#
# Builds ml-train against the CUDA LibTorch of the machine's PyTorch
# (torch.utils.cmake_prefix_path) with all cores, then checks on
# runtime.device=cuda, printing PASS/FAIL per check:
#   env           env.json records the GPU, driver, CUDA and cuDNN
#   seeding/ARCH  deterministic mode set what it must (run.json's seeding)
#   verify/ARCH   bow, cnn, transformer: reruns bit-exact, kill -9 at a step
#                 and resume bit-exact, runtime.num_workers=0,2 bit-exact
#   shards        training.grad_shards=2 in one process: the same bits however
#                 the batches are loaded (num_workers)
#   portable      a GPU run's model.pt and checkpoints load on the CPU
#                 (ml-train evaluate there)
#   diff-device   diff of a CPU run and a GPU run names the device as the cause
# and writes the figures (bench/gpu: ms per step, deterministic vs not, ml-train
# vs the PyTorch reference recipes, the default recipe GPU vs CPU) to
# OUT_DIR/gpu.json. Exit 0 when every check passed.
#
# ML_TRAIN=path skips the build; DEVICE=cpu rehearses the script on a machine
# without a GPU (the CUDA-only checks then say SKIP).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mkdir -p "${1:-$SRC/build-gpu/out}" && cd "${1:-$SRC/build-gpu/out}" && pwd)
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
WORK=$(mktemp -d /tmp/mltrain_gpu.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
: >"$OUT/gpu.txt"
failed=0
say() { echo "$*" | tee -a "$OUT/gpu.txt"; }
check() {  # check NAME COMMAND...: PASS when the command succeeds
  local name=$1 log="$WORK/${1//\//_}.log"
  shift
  if "$@" >"$log" 2>&1; then
    say "PASS $name"
  else
    say "FAIL $name"
    tail -20 "$log" | sed 's/^/    /' | tee -a "$OUT/gpu.txt"
    failed=1
  fi
}

if [ -z "${ML_TRAIN:-}" ]; then
  prefix=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  cmake -S "$SRC" -B "$SRC/build-gpu" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DMLTRAIN_BUILD_TESTS=OFF -DMLTRAIN_BUILD_EXAMPLES=OFF \
    >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 2; }
  cmake --build "$SRC/build-gpu" -j"$(nproc)" --target ml-train >"$OUT/build.log" 2>&1 \
    || { grep -E "error|FAILED" "$OUT/build.log" | head -30; exit 2; }
  ML_TRAIN=$SRC/build-gpu/ml-train
fi
ML_TRAIN=$(cd "$(dirname "$ML_TRAIN")" && pwd)/$(basename "$ML_TRAIN")
say "ml-train: $ML_TRAIN on $DEVICE"
cd "$WORK"

cat >small.yaml <<YAML
seed: 42
deterministic: true
data:
  train_path: $SRC/data/sample/train.jsonl
  val_path: $SRC/data/sample/val.jsonl
  test_path: $SRC/data/sample/test.jsonl
tokenizer: {max_len: 64, min_freq: 1}
model: {embed_dim: 32, hidden_dim: 32, dropout: 0.2}
training: {epochs: 2, batch_size: 16, lr: 0.005, token_dropout: 0.1}
runtime: {output_dir: $WORK/runs, progress: false, num_workers: 2, trace_every: 4, device: $DEVICE}
YAML

json_get() { "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[k]
print(json.dumps(v) if isinstance(v,(dict,list)) else v)' "$1" "$2"; }

# env: the GPU, driver, CUDA and cuDNN as env.json records them.
env_check() {
  "$ML_TRAIN" env >env.json || return 1
  [ "$DEVICE" = cpu ] && return 0
  "$PY" - env.json <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
c = e.get("cuda")
assert c, "env.json has no cuda section"
print(json.dumps(c, indent=1))
PY
}
check env env_check

for arch in bow cnn transformer; do
  # Reruns, kill -9 at step 7 and resume, num_workers 0 and 2: all identical.
  check "verify/$arch" "$ML_TRAIN" verify -c small.yaml model.arch=$arch --repeats 2 \
    --interrupt-at 7 --vary runtime.num_workers=0,2 runtime.output_dir="$WORK/v-$arch"
  grep -h "identical\|differ" "$WORK/verify_$arch.log" 2>/dev/null | tail -1 | sed 's/^/    /' \
    | tee -a "$OUT/gpu.txt"
  seeding() {
    local dir
    dir=$(ls -d "$WORK"/v-$1/verify/*/1/r1)
    "$PY" - "$dir/run.json" "$DEVICE" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, device = r["seeding"], sys.argv[2]
assert s["deterministic_algorithms"] and s["cudnn_deterministic"] and not s["cudnn_benchmark"], s
assert s["cublas_workspace_config"] == ":4096:8", s
if device != "cpu":
    assert r.get("device", "").startswith("cuda"), r.get("device")
PY
  }
  check "seeding/$arch" seeding $arch
done

check shards "$ML_TRAIN" verify -c small.yaml model.arch=cnn training.grad_shards=2 --repeats 1 \
  --vary runtime.num_workers=0,3 runtime.output_dir="$WORK/v-shards"

# A GPU run's files on the CPU, and a CPU run against it.
"$ML_TRAIN" train -c small.yaml runtime.output_dir="$WORK/gpu" >gpu.txt 2>&1
"$ML_TRAIN" train -c small.yaml runtime.device=cpu runtime.output_dir="$WORK/cpu" >cpu.txt 2>&1
gpu_run=$(ls -d "$WORK"/gpu/*/ | head -1)
cpu_run=$(ls -d "$WORK"/cpu/*/ | head -1)
check portable "$ML_TRAIN" evaluate "$gpu_run" --data "$SRC/data/sample/test.jsonl"
diff_device() {
  "$ML_TRAIN" diff "$cpu_run" "$gpu_run" >d.txt 2>&1
  cat d.txt
  # On the CPU both runs are CPU runs: diff must still have compared them.
  [ "$DEVICE" = cpu ] && { grep -q "state hash" d.txt; return; }
  grep -q "device differs (runtime.device cpu vs cuda" d.txt
}
check diff-device diff_device

# Figures: ms per step, deterministic vs not, against the PyTorch recipes.
if [ -f "$SRC/bench/gpu" ]; then
  ML_TRAIN="$ML_TRAIN" DEVICE="$DEVICE" "$PY" "$SRC/bench/gpu" --out "$OUT/gpu.json" \
    >"$OUT/bench.log" 2>&1 && say "figures: $OUT/gpu.json" || { say "FAIL figures"; tail -20 "$OUT/bench.log"; failed=1; }
fi

say "$([ $failed = 0 ] && echo "all GPU checks passed" || echo "some GPU checks FAILED")"
exit $failed
