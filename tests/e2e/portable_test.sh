#!/usr/bin/env bash
# Same bits on every x86-64-v3 machine (kernels.h, README "Same bits on every
# machine"):
# - every command in README.md's portable-hashes table prints the run id and
#   the state hash the README states. The machines that test this project are
#   not all the same CPU model (nor the same OPENBLAS_CORETYPE, which this test
#   leaves as the machine set it), so this is a cross-machine check;
# - bow, cnn and transformer, deterministic: the same bits under every ATen CPU
#   capability this CPU can run (verify --vary runtime.cpu_capability=...);
#   not deterministic: the cnn's and the transformer's differ (the check can fail);
# - env.json records the kernels and the pin; diff names the capability.
source "$(dirname "$0")/lib.sh"

# 1. The README's hashes.
"$PYTHON" - "$SOURCE_DIR/README.md" >rows.txt <<'PY'
import re, sys
text = open(sys.argv[1]).read()
block = text.split("<!-- portable hashes:")[1].split("<!-- end portable hashes -->")[0]
rows = re.findall(r"^\| `ml-train ([^`]+)`[^|]*\| `([0-9a-f]{8})` \| `([0-9a-f]{16})` \|$", block, re.M)
assert len(rows) >= 3, block
for args, run_id, h in rows:
    print(run_id, h, args)
PY
n=0
while read -r run_id want args; do
  n=$((n + 1))
  # shellcheck disable=SC2086  # the README's arguments, word-split as a shell would
  (cd "$SOURCE_DIR" && "$ML_TRAIN" $args runtime.progress=false runtime.output_dir="$WORK/readme") \
    >"readme$n.txt" 2>&1 || { cat "readme$n.txt"; fail "ml-train $args"; }
  got=$(awk '$1 == "state_hash" {print $2}' "readme$n.txt")
  id=$(basename "$(run_dir_of "readme$n.txt")")
  echo "ml-train $args: run $id state_hash $got (README: $want)"
  [ "$id" = "$run_id" ] || fail "ml-train $args: run id $id, README says $run_id"
  [ "$got" = "$want" ] || fail "ml-train $args: state_hash $got, README says $want (CPU: $(grep -m1 'model name' /proc/cpuinfo))"
  env_json="$WORK/readme/$id/env.json"
  [ "$(json_get "$env_json" kernels.pinned)" = True ] || fail "$env_json: kernels not pinned"
done <rows.txt
[ "$n" -ge 3 ] || fail "README lists $n portable hashes"

# 2. Every capability this CPU can run.
caps=default,avx2
if grep -qw avx512vl /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo; then
  caps=$caps,avx512
fi
write_small_config small.yaml
for arch in bow cnn transformer; do
  "$ML_TRAIN" verify -c small.yaml model.arch=$arch --repeats 1 --vary "runtime.cpu_capability=$caps" \
    runtime.output_dir="$WORK/v-$arch" >v.txt 2>&1 || { cat v.txt; fail "$arch, deterministic: the bits depend on the capability"; }
  grep -q "identical" v.txt || { cat v.txt; fail "$arch: no verdict"; }
done
for arch in cnn transformer; do
  set +e
  "$ML_TRAIN" verify -c small.yaml model.arch=$arch deterministic=false --repeats 1 \
    --vary runtime.cpu_capability=default,avx2 runtime.output_dir="$WORK/n-$arch" >n.txt 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 1 ] && grep -q "runtime.cpu_capability=default .*DIFFERS" n.txt \
    || { cat n.txt; fail "$arch, not deterministic: the capability changed nothing (exit $rc)"; }
  grep -q "LibTorch CPU capability differs" n.txt || { cat n.txt; fail "$arch: the cause is not named"; }
done

# 3. The record: pinned when deterministic, native when not.
"$ML_TRAIN" train -c small.yaml runtime.output_dir="$WORK/d" >d.txt 2>&1 || { cat d.txt; fail "train"; }
"$ML_TRAIN" train -c small.yaml deterministic=false runtime.output_dir="$WORK/n" >n.txt 2>&1 || { cat n.txt; fail "train"; }
"$PYTHON" - "$(run_dir_of d.txt)/env.json" "$(run_dir_of n.txt)/env.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["kernels"]
n = json.load(open(sys.argv[2]))["kernels"]
assert d["pinned"] and d["aten_capability"] == "AVX2" and d["onednn"] == "off", d
assert d["openblas_core"] in (None, "Haswell"), d
assert d["pin"]["ATEN_CPU_CAPABILITY"]["to"] == "avx2" or "ATEN_CPU_CAPABILITY" not in d["pin"], d
assert not n["pinned"] and n["onednn"].startswith("on"), n
PY

# 4. A CPU feature the capability needs: one clear line, exit 2.
if [ "${caps##*,}" != avx512 ]; then
  set +e
  "$ML_TRAIN" train -c small.yaml deterministic=false runtime.cpu_capability=avx512 \
    runtime.output_dir="$WORK/x" >x.txt 2>err.txt
  rc=$?
  set -e
  [ "$rc" -eq 2 ] && grep -q "runtime.cpu_capability.*needs AVX512" err.txt || { cat err.txt; fail "avx512 on a CPU without it"; }
fi
set +e
"$ML_TRAIN" train -c small.yaml runtime.cpu_capability=sse >x.txt 2>err.txt
rc=$?
set -e
[ "$rc" -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "runtime.cpu_capability" err.txt \
  || { cat err.txt; fail "a bad capability"; }
echo "portable_test: ok"
