#!/usr/bin/env bash
# model.sparse (bow's table with row-sparse gradients and lazy updates):
# - bit-identical reruns, kill -9 + resume, 1 and 2 threads, 1 and 2 ranks
#   (verify), for lazy Adam, SGD and Adagrad, with two gradient shards;
# - part of the identity only when set; SGD's weights are the dense path's;
# - refused, naming the key, where it does not apply.
source "$(dirname "$0")/lib.sh"
write_small_config
for opt in adam "sgd training.momentum=0" adagrad; do
  name=${opt%% *}
  "$ML_TRAIN" verify -c small.yaml model.sparse=true training.optimizer=$opt model.dropout=0.2 \
    training.grad_shards=2 --repeats 1 --interrupt-at 5 --vary runtime.nproc=1,2 \
    --vary runtime.threads=1,2 runtime.output_dir="$WORK/v-$name" >o.txt 2>&1 \
    || { cat o.txt; fail "sparse $name: runs differ"; }
  grep -Eq "all [0-9]+ runs identical" o.txt || { cat o.txt; fail "sparse $name: no verdict"; }
  echo "sparse $name: identical over reruns, kill + resume, threads 1/2, ranks 1/2"
done

# Identity: model.sparse=false is the old identity, true another.
id() { "$ML_TRAIN" config -c small.yaml "$@" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["run_id"])'; }
[ "$(id)" = "$(id model.sparse=false)" ] || fail "model.sparse=false changed the run id"
[ "$(id)" != "$(id model.sparse=true)" ] || fail "model.sparse=true kept the run id"

# SGD without momentum: the sparse path gives the dense path's state hash.
hash_of() {
  "$ML_TRAIN" train -c small.yaml training.optimizer=sgd training.momentum=0 training.lr=0.5 \
    "$@" >h.txt 2>&1 || { cat h.txt; fail "train $*"; }
  awk '/^state_hash/ {print $2}' h.txt
}
dense=$(hash_of runtime.output_dir="$WORK/sgd-dense")
sparse=$(hash_of model.sparse=true runtime.output_dir="$WORK/sgd-sparse")
[ -n "$dense" ] && [ "$dense" = "$sparse" ] || fail "sgd: dense $dense, sparse $sparse"
echo "sgd: sparse = dense ($sparse)"

# Where it does not apply: exit 2, one line naming the key.
expect_usage() {
  set +e
  "$ML_TRAIN" train -c small.yaml "$@" runtime.output_dir="$WORK/bad" >e.txt 2>&1
  local code=$?
  set -e
  [ $code = 2 ] || { cat e.txt; fail "$*: exit $code, expected 2"; }
  grep -q "key 'model.sparse'" e.txt || { cat e.txt; fail "$*: the key is not named"; }
  [ "$(wc -l <e.txt)" = 1 ] || { cat e.txt; fail "$*: more than one line"; }
}
expect_usage model.sparse=true model.arch=cnn
expect_usage model.sparse=true training.optimizer=adamw
expect_usage model.sparse=true training.weight_decay=0.01
expect_usage model.sparse=true training.optimizer=sgd
[ ! -e "$WORK/bad" ] || fail "a refused config left an output directory"
echo "sparse e2e ok"
