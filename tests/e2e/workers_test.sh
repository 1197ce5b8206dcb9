#!/usr/bin/env bash
# G3: with deterministic: true, runtime.num_workers 0, 1, 2 and 4 give the
# identical state hash, with token dropout and the transformer's dropout.
source "$(dirname "$0")/lib.sh"
write_small_config
for arch in bow transformer; do
  hashes=()
  for w in 0 1 2 4; do
    "$ML_TRAIN" -c small.yaml model.arch=$arch model.dropout=0.2 training.token_dropout=0.15 \
      training.epochs=2 runtime.num_workers=$w runtime.output_dir="$WORK/w$w-$arch" >o.txt
    hashes+=("$(hash_of "$(run_dir_of o.txt)")")
  done
  echo "$arch: ${hashes[*]}"
  for h in "${hashes[@]}"; do [ "$h" = "${hashes[0]}" ] || fail "$arch: num_workers changed the result"; done
done
# Token dropout really is active: turning it off changes the result.
"$ML_TRAIN" -c small.yaml training.epochs=2 runtime.output_dir="$WORK/nodrop" >o.txt
"$ML_TRAIN" -c small.yaml training.epochs=2 training.token_dropout=0.15 runtime.output_dir="$WORK/drop" >p.txt
[ "$(hash_of "$(run_dir_of o.txt)")" != "$(hash_of "$(run_dir_of p.txt)")" ] || fail "token dropout has no effect"
echo "workers e2e ok"
