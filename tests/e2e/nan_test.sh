#!/usr/bin/env bash
# A NaN/Inf loss stops the run with exit 1 and names the step; run.json says failed.
source "$(dirname "$0")/lib.sh"
write_small_config
# The self-test perturbation of the control contract (docs/control.md) fills
# fc1.weight with NaN after step 4.
MLTRAIN_CONTROL='{"perturb": {"step": 4, "tensor": "fc1.weight", "nan": true}}' \
  expect_rc 1 "$ML_TRAIN" -c small.yaml
grep -q "training diverged: loss is nan at step 5 " err.txt || { cat err.txt; fail "NaN not reported with its step"; }
[ "$(grep -c "error" err.txt)" -eq 1 ] || fail "one error line"
grep -q "self-test: MLTRAIN_CONTROL perturbs 'fc1.weight' after step 4" err.txt || fail "perturbation not announced"
dir=$(run_dir_of out.txt)
[ "$(json_get "$dir/run.json" status)" = failed ] || fail "status not failed"
# NaN weights from the very last step: caught by the validation loss.
steps=26  # 2 epochs x 13 batches of the small config
MLTRAIN_CONTROL="{\"perturb\": {\"step\": $steps, \"tensor\": \"fc2.weight\", \"nan\": true}}" \
  expect_rc 1 "$ML_TRAIN" -c small.yaml training.lr=0.011
grep -q "validation loss is nan after epoch 2 (step $steps)" err.txt || { cat err.txt; fail "NaN weights not caught"; }
# The perturbation is recorded with the attempt, so a perturbed run is never mistaken for a real one.
"$PYTHON" - "$(run_dir_of out.txt)/run.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["attempts"][-1]
assert a["control"]["perturb"]["tensor"] == "fc2.weight" and a["status"] == "failed", a
PY
# A perturbation of a tensor the model does not have is an error.
MLTRAIN_CONTROL='{"perturb": {"step": 4, "tensor": "fc9.weight"}}' expect_rc 2 "$ML_TRAIN" -c small.yaml training.lr=0.012
grep -q "perturb.tensor 'fc9.weight' is not a tensor of the model" err.txt || { cat err.txt; fail "unknown tensor"; }
MLTRAIN_CONTROL='{"stop_at": "soon"}' expect_rc 2 "$ML_TRAIN" -c small.yaml training.lr=0.013
grep -q "MLTRAIN_CONTROL: 'stop_at' must be a positive integer" err.txt || { cat err.txt; fail "bad control"; }
echo "nan e2e ok"
