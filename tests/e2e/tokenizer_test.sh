#!/usr/bin/env bash
# Tokenizer experiments: a SentencePiece model (BPE or unigram) trained on the
# training split once per (data, settings) and reused from the cache; an
# existing model by path; character n-grams inside words, hashed into a
# bounded vocabulary; all reproducible (verify across num_workers).
source "$(dirname "$0")/lib.sh"
if [ "${SANITIZE:-OFF}" = address ]; then
  echo "tokenizer e2e skipped: SentencePiece's plugin cannot load under AddressSanitizer"
  exit 0
fi
write_small_config
sp=(-c small.yaml tokenizer.kind=sentencepiece tokenizer.vocab_size=300)

# Character n-grams (char_wb) for bow, hashed into a bounded space.
"$ML_TRAIN" -c small.yaml tokenizer.kind=char tokenizer.ngrams=4 tokenizer.hash_buckets=500 >f.txt
f=$(run_dir_of f.txt)
"$PYTHON" - "$f/vocab.txt" <<'PY'
import sys
tokens = [l.split("\t")[0] for l in open(sys.argv[1], encoding="utf-8")]
hashed = [t for t in tokens if t.startswith("#") and t[1:].isdigit()]
assert hashed and all(int(t[1:]) < 500 for t in hashed), hashed[:5]
assert len(hashed) <= 500
print("char n-grams ok:", len(tokens), "tokens,", len(hashed), "buckets")
PY
expect_rc 0 "$ML_TRAIN" verify -c small.yaml tokenizer.kind=char tokenizer.ngrams=3 --repeats 2
grep -q "all 2 runs identical" out.txt || fail "verify of char n-grams"

if [ "${SENTENCEPIECE:-ON}" = OFF ]; then
  # A build without SentencePiece refuses the tokenizer in one line.
  expect_rc 2 "$ML_TRAIN" "${sp[@]}"
  grep -q "this build has no SentencePiece" err.txt || { cat err.txt; fail "no SentencePiece: message"; }
  [ "$(wc -l <err.txt)" -eq 1 ] || { cat err.txt; fail "no SentencePiece: one line"; }
  echo "tokenizer e2e ok (this build has no SentencePiece: its part skipped)"
  exit 0
fi

"$ML_TRAIN" "${sp[@]}" >a.txt
a=$(run_dir_of a.txt)
[ -s "$a/tokenizer.model" ] || fail "the trained tokenizer is not saved in the run"
"$PYTHON" - "$a/data.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["tokenizer"]
assert t["kind"] == "sentencepiece" and t["source"] == "trained" and t["pieces"] == 300, t
assert len(t["pieces_sha256"]) == 64
PY
# Another seed, same data and settings: the tokenizer comes from the cache.
"$ML_TRAIN" "${sp[@]}" --seed 9 >b.txt
b=$(run_dir_of b.txt)
[ "$(json_get "$b/data.json" tokenizer.source)" = cache ] || fail "the tokenizer was trained again"
[ "$(json_get "$b/data.json" tokenizer.pieces_sha256)" = "$(json_get "$a/data.json" tokenizer.pieces_sha256)" ] ||
  fail "the cached tokenizer differs"
# BPE is another tokenizer (another cache entry, another run id).
"$ML_TRAIN" "${sp[@]}" tokenizer.sp_type=bpe >c.txt
[ "$(json_get "$(run_dir_of c.txt)/data.json" tokenizer.source)" = trained ] || fail "bpe reused unigram"
[ "$(ls "$WORK"/runs/.cache/tokenizers | wc -l)" -eq 2 ] || fail "cache entries"

# Reproducible: repeats and loader threads give the same bits.
expect_rc 0 "$ML_TRAIN" verify "${sp[@]}" --repeats 2 --vary runtime.num_workers=0,2
grep -q "all 4 runs identical" out.txt || { cat out.txt; fail "verify of a sentencepiece run"; }

# A damaged cache entry is noticed, trained again, never used.
entry=$(json_get "$a/data.json" tokenizer.cache_file)
printf 'garbage' >>"$entry"
# (runtime.token_cache=false: the token cache holds the model too and would
# be used instead.)
"$ML_TRAIN" "${sp[@]}" tokenizer.sp_type=unigram runtime.output_dir="$WORK/again" \
  runtime.cache_dir="$WORK/runs/.cache" runtime.token_cache=false >d.txt 2>d.err
grep -q "damaged tokenizer cache entry" d.err || { cat d.err; fail "no warning for a damaged entry"; }
[ "$(json_get "$(run_dir_of d.txt)/data.json" tokenizer.pieces_sha256)" = \
  "$(json_get "$a/data.json" tokenizer.pieces_sha256)" ] || fail "retrained tokenizer differs"

# An existing model by path: used as it is, fingerprinted.
cp "$a/tokenizer.model" mine.model
"$ML_TRAIN" -c small.yaml tokenizer.kind=sentencepiece tokenizer.sp_model="$WORK/mine.model" >e.txt
e=$(run_dir_of e.txt)
[ "$(json_get "$e/data.json" tokenizer.source)" = tokenizer.sp_model ] || fail "sp_model source"
[ "$(json_get "$e/data.json" tokenizer.pieces_sha256)" = "$(json_get "$a/data.json" tokenizer.pieces_sha256)" ] ||
  fail "sp_model fingerprint"
printf 'not a model' >bad.model
expect_rc 2 "$ML_TRAIN" -c small.yaml tokenizer.kind=sentencepiece tokenizer.sp_model="$WORK/bad.model"
grep -q "not a SentencePiece model" err.txt || fail "bad sp_model"
expect_rc 2 "$ML_TRAIN" -c small.yaml tokenizer.vocab_size=100
grep -q "apply to tokenizer.kind=sentencepiece" err.txt || fail "sentencepiece key on word"

echo "tokenizer e2e ok"
