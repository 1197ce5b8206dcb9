#!/usr/bin/env bash
# A NaN/Inf loss stops the run with exit 1 and names the step; run.json says failed.
source "$(dirname "$0")/lib.sh"
write_small_config
MLTRAIN_TEST_PERTURB="4:fc1.weight:nan" expect_rc 1 "$ML_TRAIN" -c small.yaml
grep -q "training diverged: loss is nan at step 5 " err.txt || { cat err.txt; fail "NaN not reported with its step"; }
[ "$(wc -l <err.txt)" -eq 1 ] || fail "one error line"
dir=$(run_dir_of out.txt)
[ "$(json_get "$dir/run.json" status)" = failed ] || fail "status not failed"
# NaN weights from the very last step: caught by the validation loss.
steps=26  # 2 epochs x 13 batches of the small config
MLTRAIN_TEST_PERTURB="$steps:fc2.weight:nan" expect_rc 1 "$ML_TRAIN" -c small.yaml training.lr=0.011
grep -q "validation loss is nan after epoch 2 (step $steps)" err.txt || { cat err.txt; fail "NaN weights not caught"; }
echo "nan e2e ok"
