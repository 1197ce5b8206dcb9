#!/usr/bin/env bash
# A full disk at every size from "nothing fits" to "almost everything fits":
# the run fails with one clear line (or completes), no file it wrote whole is
# half-written, and once there is room the same command completes it.
# Needs root to mount a small tmpfs; skipped otherwise.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then echo "disk full faults skipped (not root)"; exit 0; fi
write_small_config
cfg=(-c small.yaml training.epochs=2 runtime.checkpoint_every=5)
"$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$WORK/ref" >ref.txt
ref=$(run_dir_of ref.txt)
mnt="$WORK/mnt"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=64k tmpfs "$mnt" 2>/dev/null; then
  echo "disk full faults skipped (cannot mount a tmpfs here)"
  exit 0
fi
umount "$mnt"
trap 'umount "$mnt" 2>/dev/null || true; rm -rf "$WORK"' EXIT
full=0
for kb in 16 48 96 160 240 320; do
  mount -t tmpfs -o size=${kb}k tmpfs "$mnt"
  outcome "disk ${kb}k" "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$mnt/runs"
  if [ "$RC" -ne 0 ]; then
    grep -q "No space left on device" err.txt || { cat err.txt; fail "disk ${kb}k: not named"; }
    full=$((full + 1))
    echo "disk ${kb}k: $(cat err.txt)"
  fi
  # Whole files are never half-written: every JSON file there parses.
  for f in "$mnt"/runs/*/*.json; do
    [ -e "$f" ] || continue
    "$PYTHON" -c 'import json, sys; json.load(open(sys.argv[1]))' "$f" || fail "disk ${kb}k: $f is half-written"
  done
  # With room again the same command completes with the reference result.
  tar -C "$mnt" -cf "$WORK/state.tar" .
  umount "$mnt"
  mount -t tmpfs -o size=64m tmpfs "$mnt"
  tar -C "$mnt" -xf "$WORK/state.tar"
  outcome "disk ${kb}k, room again" "$ML_TRAIN" "${cfg[@]}" runtime.output_dir="$mnt/runs"
  [ "$RC" -eq 0 ] || { cat err.txt; fail "disk ${kb}k: no recovery"; }
  [ "$(hash_of "$(ls -d "$mnt"/runs/*/)")" = "$(hash_of "$ref")" ] || fail "disk ${kb}k: another result"
  umount "$mnt"
done
[ "$full" -ge 3 ] || fail "only $full sizes ran out of space: the test is not testing a full disk"
echo "disk full faults ok: $CASES cases, $full sizes ran out of space"
