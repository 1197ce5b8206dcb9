#!/usr/bin/env bash
# Data-parallel ranks (c10d, Gloo): the same bits for any number of ranks.
# - verify --vary runtime.nproc=1,2 with training.grad_shards=2 is identical
#   for bow, cnn and the transformer (dropout and token dropout on);
# - two ranks started with exactly torchrun's environment give the local
#   launcher's state hash; rank 1 writes nothing and prints nothing;
# - K is part of the identity (K=1 is the old identity), the world size is not;
# - a rank that cannot reach the store fails with one line naming it, after
#   runtime.dist_timeout; more ranks than shards is a usage error.
source "$(dirname "$0")/lib.sh"
write_small_config
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for arch in bow cnn transformer; do
  "$ML_TRAIN" verify -c small.yaml model.arch=$arch model.dropout=0.2 training.token_dropout=0.1 \
    training.epochs=1 training.grad_shards=2 deterministic=true --repeats 1 \
    --vary runtime.nproc=1,2 runtime.output_dir="$WORK/v-$arch" >o.txt 2>&1 \
    || { cat o.txt; fail "$arch: 1 and 2 ranks differ"; }
  grep -q "all 3 runs identical" o.txt || { cat o.txt; fail "$arch: no verdict"; }
  echo "$arch: identical for 1 and 2 ranks"
done

# verify's kill at an exact step works through the launcher: rank 0 stops
# itself (stop_at), the launcher kills the ranks and stops in turn, verify
# SIGKILLs it; the resumed 2-rank job ends identical.
"$ML_TRAIN" verify -c small.yaml training.grad_shards=2 runtime.nproc=2 --repeats 1 \
  --interrupt-at 7 runtime.output_dir="$WORK/v-kill" >o.txt 2>&1 \
  || { cat o.txt; fail "2 ranks killed at step 7 and resumed differ"; }
grep -q "all 2 runs identical" o.txt || { cat o.txt; fail "interrupt: no verdict"; }

# Three shards over two ranks (rank 0 computes shards 0 and 2) = one process.
"$ML_TRAIN" train -c small.yaml model.arch=cnn training.grad_shards=3 \
  runtime.output_dir="$WORK/one" >one.txt 2>&1 || { cat one.txt; fail "K=3 one process"; }
"$ML_TRAIN" train -c small.yaml model.arch=cnn training.grad_shards=3 runtime.nproc=2 \
  runtime.output_dir="$WORK/launcher" >launcher.txt 2>&1 || { cat launcher.txt; fail "K=3 launcher"; }
h1=$(awk '/^state_hash/ {print $2}' one.txt)
h2=$(awk '/^state_hash/ {print $2}' launcher.txt)
[ -n "$h1" ] && [ "$h1" = "$h2" ] || fail "K=3: one process $h1, two ranks $h2"
grep -q "2 ranks" launcher.txt || { cat launcher.txt; fail "the launcher run does not say it had 2 ranks"; }
[ "$(json_get "$WORK"/launcher/*/run.json ranks.world)" = 2 ] || fail "run.json does not record 2 ranks"

# torchrun's contract: the environment it gives each worker.
port=$(free_port)
pids=()
for r in 0 1; do
  env RANK=$r LOCAL_RANK=$r GROUP_RANK=0 ROLE_RANK=$r WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 \
    ROLE_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TORCHELASTIC_RUN_ID=e2e \
    OMP_NUM_THREADS=1 "$ML_TRAIN" train -c small.yaml model.arch=cnn training.grad_shards=3 \
    runtime.output_dir="$WORK/torchrun" >rank$r.txt 2>rank$r.err &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat rank0.txt rank0.err rank1.err; fail "a torchrun rank failed"; }; done
h3=$(awk '/^state_hash/ {print $2}' rank0.txt)
[ "$h3" = "$h1" ] || fail "torchrun ranks: $h3, one process: $h1"
[ ! -s rank1.txt ] || { cat rank1.txt; fail "rank 1 printed results"; }
[ "$(ls "$WORK/torchrun" | grep -vc '^\.')" = 1 ] || fail "not exactly one run directory"
echo "torchrun environment: $h3 = one process = local launcher"

# The replicas are checked at every epoch's end: rank 0 perturbed through the
# control contract (the ranks share MLTRAIN_CONTROL; only rank 0's Run applies
# it) must fail the run, naming rank 1.
set +e
MLTRAIN_CONTROL='{"perturb": {"step": 3, "tensor": "fc2.weight"}}' "$ML_TRAIN" train -c small.yaml \
  training.grad_shards=2 runtime.nproc=2 runtime.output_dir="$WORK/perturbed" >p.txt 2>&1
code=$?
set -e
[ $code = 1 ] || { cat p.txt; fail "replicas apart: exit $code"; }
grep -q "rank 1 holds other weights than rank 0" p.txt || { cat p.txt; fail "replicas apart: not named"; }
[ "$(json_get "$WORK"/perturbed/*/run.json status)" = failed ] || fail "replicas apart: run not failed"

# Identity: K changes it (K=1 is the identity without the key), ranks do not.
id() { "$ML_TRAIN" config -c small.yaml "$@" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["run_id"])'; }
[ "$(id)" = "$(id training.grad_shards=1)" ] || fail "grad_shards=1 changed the run id"
[ "$(id)" != "$(id training.grad_shards=2)" ] || fail "grad_shards=2 kept the run id"
[ "$(id training.grad_shards=2)" = "$(id training.grad_shards=2 runtime.nproc=2)" ] \
  || fail "runtime.nproc changed the run id"

# Errors.
set +e
"$ML_TRAIN" train -c small.yaml runtime.nproc=2 >e.txt 2>&1
code=$?
set -e
[ $code = 2 ] || { cat e.txt; fail "2 ranks for 1 shard: exit $code"; }
grep -q "training.grad_shards" e.txt || { cat e.txt; fail "the error does not name grad_shards"; }
port=$(free_port)
start=$(date +%s)
set +e
env RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$ML_TRAIN" train -c small.yaml \
  training.grad_shards=2 runtime.dist_timeout=2 runtime.output_dir="$WORK/lost" >e.txt 2>&1
code=$?
set -e
took=$(($(date +%s) - start))
[ $code = 1 ] || { cat e.txt; fail "unreachable store: exit $code"; }
[ "$(wc -l <e.txt)" = 1 ] || { cat e.txt; fail "unreachable store: more than one line"; }
grep -q "127.0.0.1:$port" e.txt || { cat e.txt; fail "the error does not name the store's address"; }
[ $took -lt 30 ] || fail "unreachable store: took $took s with a 2 s timeout"
[ ! -e "$WORK/lost" ] || fail "a rank that never connected wrote something"
echo "dist e2e ok"
