#!/usr/bin/env bash
# Using a trained model: predict gives, for every row, the id (or line), the
# label and every class probability, and on the validation file reproduces
# the run's recorded val accuracy exactly; the same bytes for any thread
# count; evaluate records accuracy, macro-F1, per-class figures and the
# confusion matrix in the run, and report shows it; bad input is one clear
# line (or skipped with --skip-bad).
source "$(dirname "$0")/lib.sh"
write_small_config
val="$SOURCE_DIR/data/sample/val.jsonl"
check_run() {  # check_run NAME TRAIN-ARGS...
  local name=$1
  shift
  "$ML_TRAIN" -c small.yaml "$@" >"$name.txt"
  local dir
  dir=$(run_dir_of "$name.txt")
  "$ML_TRAIN" predict "$dir" "$val" --threads 1 >"$name.p1"
  "$ML_TRAIN" predict "$dir" "$val" --threads 2 --top-k 2 >"$name.p2"
  "$PYTHON" - "$name.p1" "$name.p2" "$val" "$dir/summary.json" "$name" <<'PY'
import json, sys
p1 = [json.loads(l) for l in open(sys.argv[1])]
p2 = [json.loads(l) for l in open(sys.argv[2])]
rows = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
truth = [r["label"] for r in rows]
summary = json.load(open(sys.argv[4]))
assert len(p1) == len(truth) == summary["val"]["n"], (len(p1), len(truth))
for a, b in zip(p1, p2):
    assert a["probs"] == b["probs"] and a["label"] == b["label"], "thread count changed a result"
    assert abs(sum(a["probs"].values()) - 1) < 1e-5
    assert a["label"] == max(a["probs"], key=a["probs"].get)
    assert [t[0] for t in b["top"]] == sorted(a["probs"], key=a["probs"].get, reverse=True)[:2]
acc = sum(p["label"] == t for p, t in zip(p1, truth)) / len(truth)
assert acc == summary["val"]["acc"], (sys.argv[5], acc, summary["val"]["acc"])
assert [p["id"] for p in p1] == [r["id"] for r in rows] and p1[0]["line"] == 1
print(sys.argv[5], "predict reproduces val acc", acc)
PY
  "$ML_TRAIN" evaluate "$dir" --data "$val" --json >"$name.eval"
  "$PYTHON" - "$name.eval" "$dir/summary.json" "$dir/evaluations/val.jsonl.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
assert json.load(open(sys.argv[3])) == e, "the record in the run differs from the output"
m = e["metrics"]
assert m["accuracy"] == s["val"]["acc"] and abs(m["macro_f1"] - s["val"]["f1"]) < 1e-12, (m, s["val"])
assert sum(map(sum, m["confusion"])) == s["val"]["n"] and len(m["classes"]) == 2
assert len(e["file"]["sha256"]) == 64
PY
  echo "$dir"
}
check_run bow >/dev/null
check_run cnn model.arch=cnn training.epochs=1 >/dev/null
check_run transformer model.arch=transformer training.epochs=1 >/dev/null
check_run char tokenizer.kind=char tokenizer.ngrams=3 tokenizer.hash_buckets=300 >/dev/null
if [ "${SANITIZE:-OFF}" != address ] && [ "${SENTENCEPIECE:-ON}" = ON ]; then
  check_run sp tokenizer.kind=sentencepiece tokenizer.vocab_size=300 >/dev/null
fi
dir=$(run_dir_of bow.txt)

# report shows the evaluation.
expect_rc 0 "$ML_TRAIN" report "$dir" -o r.html
grep -q "<h2>Evaluations</h2>" r.html || fail "report lacks the evaluation"

# Plain lines from stdin; CSV with an id column.
printf 'win a free prize now\nsee you at the meeting tomorrow\n' | "$ML_TRAIN" predict "$dir" >lines.out
[ "$(wc -l <lines.out)" -eq 2 ] || fail "stdin lines"
printf 'id,text\nm1,"free money, click"\nm2,lunch at noon?\n' >in.csv
"$ML_TRAIN" predict "$dir" in.csv >csv.out
[ "$(head -1 csv.out | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["id"])')" = m1 ] ||
  fail "csv id"

# Bad input: one line naming the row; --skip-bad goes on.
printf '{"text": "fine"}\n{"text": oops}\n{"text": "also fine"}\n' >bad.jsonl
expect_rc 2 "$ML_TRAIN" predict "$dir" bad.jsonl
grep -q "bad.jsonl:2:[0-9]*: invalid JSON" err.txt || { cat err.txt; fail "bad row not named"; }
[ "$(wc -l <err.txt)" -eq 1 ] || fail "one error line"
expect_rc 0 "$ML_TRAIN" predict "$dir" bad.jsonl --skip-bad
[ "$(wc -l <out.txt)" -eq 2 ] || fail "--skip-bad rows"
grep -q "warning: skipped .*bad.jsonl:2" err.txt || fail "--skip-bad warning"
printf '{"text": "x", "label": "eggs"}\n' >eggs.jsonl
expect_rc 2 "$ML_TRAIN" evaluate "$dir" --data eggs.jsonl
grep -q "eggs.jsonl:1: label \"eggs\" is not one the run knows" err.txt || fail "unknown label"
# A run that is not completed is refused.
MLTRAIN_CONTROL='{"stop_at": 3}' "$ML_TRAIN" -c small.yaml training.lr=0.03 runtime.output_dir="$WORK/part" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in T*) break ;; esac; sleep 0.05; done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
expect_rc 2 "$ML_TRAIN" predict "$(ls -d "$WORK"/part/*/)" "$val"
grep -q "the run is not completed" err.txt || fail "an unfinished run was used"
expect_rc 2 "$ML_TRAIN" predict "$WORK/nowhere" "$val"
echo "predict e2e ok"
