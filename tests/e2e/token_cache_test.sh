#!/usr/bin/env bash
# The token cache: a run with the same data and tokenizer settings maps the
# encoded splits instead of preparing them again, with the same results bit
# for bit; a damaged entry is rebuilt with one warning; concurrent writers
# leave one good entry; runtime.token_cache=false gives the same results.
source "$(dirname "$0")/lib.sh"
write_small_config
hit_of() { json_get "$1/data.json" token_cache.hit; }

expect_rc 0 "$ML_TRAIN" -c small.yaml --run-dir "$WORK/miss"
[ "$(hit_of "$WORK/miss")" = False ] || fail "first run hit the cache"
expect_rc 0 "$ML_TRAIN" -c small.yaml --run-dir "$WORK/hit"
[ "$(hit_of "$WORK/hit")" = True ] || fail "second run did not hit the cache"
expect_rc 0 "$ML_TRAIN" -c small.yaml runtime.token_cache=false --run-dir "$WORK/off"
json_get "$WORK/off/data.json" files >/dev/null
for d in hit off; do
  [ "$(hash_of "$WORK/$d")" = "$(hash_of "$WORK/miss")" ] || fail "$d: another state hash"
  cmp -s "$WORK/miss/trace.jsonl" "$WORK/$d/trace.jsonl" || fail "$d: another trace"
done
entry=$(ls "$WORK"/runs/.cache/tokens/*.bin)
[ "$(echo "$entry" | wc -l)" -eq 1 ] || fail "expected one cache entry: $entry"

# A flipped byte: one warning line, prepared again, same result; the entry is
# good again afterwards.
"$PYTHON" - "$entry" <<'PY'
import sys
f = open(sys.argv[1], "r+b"); f.seek(-9, 2); b = f.read(1); f.seek(-9, 2); f.write(bytes([b[0] ^ 0x40]))
PY
expect_rc 0 "$ML_TRAIN" -c small.yaml --run-dir "$WORK/damaged"
[ "$(grep -c "damaged token cache entry (checksum mismatch); preparing the data again" err.txt)" -eq 1 ] ||
  { cat err.txt; fail "damaged entry not reported in one line"; }
[ "$(hash_of "$WORK/damaged")" = "$(hash_of "$WORK/miss")" ] || fail "damaged: another state hash"
expect_rc 0 "$ML_TRAIN" -c small.yaml --run-dir "$WORK/repaired"
[ "$(hit_of "$WORK/repaired")" = True ] || fail "the rebuilt entry is not used"

# Concurrent writers on an empty cache: both train, both get the same result,
# and the entry they leave is whole.
rm -rf "$WORK/runs/.cache"
"$ML_TRAIN" -c small.yaml --run-dir "$WORK/c1" >c1.txt 2>&1 &
p1=$!
"$ML_TRAIN" -c small.yaml --run-dir "$WORK/c2" >c2.txt 2>&1 &
p2=$!
wait $p1 || { cat c1.txt; fail "concurrent writer 1"; }
wait $p2 || { cat c2.txt; fail "concurrent writer 2"; }
for d in c1 c2; do
  [ "$(hash_of "$WORK/$d")" = "$(hash_of "$WORK/miss")" ] || fail "$d: another state hash"
done
ls "$WORK"/runs/.cache/tokens/ | grep -q tmp && fail "a temporary file was left behind"
expect_rc 0 "$ML_TRAIN" -c small.yaml --run-dir "$WORK/c3"
[ "$(hit_of "$WORK/c3")" = True ] || fail "the entry written concurrently is not used"
grep -q warning err.txt && { cat err.txt; fail "the entry written concurrently is damaged"; }

# Another tokenizer setting is another entry, never the old one.
expect_rc 0 "$ML_TRAIN" -c small.yaml tokenizer.ngrams=2 --run-dir "$WORK/bigrams"
[ "$(hit_of "$WORK/bigrams")" = False ] || fail "a different tokenizer setting hit the cache"
echo "token cache e2e ok"
