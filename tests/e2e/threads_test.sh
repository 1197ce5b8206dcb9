#!/usr/bin/env bash
# With deterministic: true, the intra-op thread count never changes the bits
# (bow, cnn and the transformer: `verify --vary runtime.threads=1,2,3`). The
# transformer's layer norm is why: LibTorch sums its weight and bias
# gradients in one buffer per thread, and with deterministic: false (LibTorch's
# kernel) 1 and 2 threads differ, which the negative control shows.
source "$(dirname "$0")/lib.sh"
write_small_config
for arch in bow cnn transformer; do
  "$ML_TRAIN" verify -c small.yaml model.arch=$arch model.dropout=0.2 training.epochs=1 \
    --repeats 1 --vary runtime.threads=1,2,3 runtime.output_dir="$WORK/v-$arch" >o.txt 2>&1 \
    || { cat o.txt; fail "$arch: the thread count changed the result"; }
  grep -q "all 4 runs identical" o.txt || { cat o.txt; fail "$arch: no verdict"; }
  echo "$arch: identical for 1, 2 and 3 threads"
done
# Negative control: LibTorch's layer norm (deterministic: false) is not
# thread-invariant, and verify names it.
if "$ML_TRAIN" verify -c small.yaml model.arch=transformer deterministic=false training.epochs=1 \
  --repeats 1 --vary runtime.threads=1,2 runtime.output_dir="$WORK/v-nd" >o.txt 2>&1; then
  cat o.txt
  fail "deterministic=false transformer was thread-invariant: the test shows nothing"
fi
grep -q "norm" o.txt || { cat o.txt; fail "the divergence does not name the layer norm"; }
echo "threads e2e ok"
