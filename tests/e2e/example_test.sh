#!/usr/bin/env bash
# examples/simple: the library in a user's own loop gives the same state hash
# on every run; every shipped example config resolves.
source "$(dirname "$0")/lib.sh"
example="$(dirname "$ML_TRAIN")/simple_example"
"$example" "$SOURCE_DIR/data/sample" >a.txt
"$example" "$SOURCE_DIR/data/sample" >b.txt
cat a.txt
grep -q "^state_hash [0-9a-f]\{16\}$" a.txt || fail "no state hash"
cmp a.txt b.txt || fail "two runs of the example differ"
for c in "$SOURCE_DIR"/examples/configs/*.yaml; do
  "$ML_TRAIN" config -c "$c" >/dev/null || fail "$c does not resolve"
done
echo "example e2e ok"
