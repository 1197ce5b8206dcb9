#!/usr/bin/env bash
# kill -9 of one rank of a data-parallel job:
# - under the local launcher (runtime.nproc=2): the job exits non-zero at
#   once with one line naming the rank and the signal; running the same
#   command again resumes from the last checkpoint and ends with the state
#   hash of an uninterrupted run (one process, same K);
# - ranks started with torchrun's environment (no launcher): killing rank 1
#   ends rank 0, and killing rank 0 ends rank 1, within runtime.dist_timeout.
source "$(dirname "$0")/lib.sh"
write_small_config
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
args=(-c small.yaml model.arch=transformer training.epochs=40 training.grad_shards=2
  runtime.checkpoint_every=3 runtime.dist_timeout=20)

# pid of the child of $1 whose environment holds RANK=$2.
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "RANK=$2"; then echo "$p"; return; fi
  done
}
# Waits until the run in $1 has traced $2 steps.
wait_steps() {
  local i
  for i in $(seq 1 3000); do
    [ "$(cat "$1"/*/trace.jsonl 2>/dev/null | wc -l)" -ge "$2" ] && return
    sleep 0.01
  done
  fail "the run in $1 never reached step $2"
}

"$ML_TRAIN" train "${args[@]}" runtime.output_dir="$WORK/ref" >ref.txt 2>&1 \
  || { cat ref.txt; fail "reference run"; }
ref=$(awk '/^state_hash/ {print $2}' ref.txt)

# Local launcher.
"$ML_TRAIN" train "${args[@]}" runtime.nproc=2 runtime.output_dir="$WORK/job" >job.txt 2>job.err &
launcher=$!
wait_steps "$WORK/job" 40
victim=$(rank_pid $launcher 1)
[ -n "$victim" ] || fail "rank 1 not found (finished already?)"
kill -9 "$victim"
t0=$(date +%s%N)
set +e
wait $launcher
code=$?
set -e
ms=$((($(date +%s%N) - t0) / 1000000))
[ $code -ne 0 ] || fail "the job ended with exit 0 after rank 1 was killed"
grep -q "rank 1 of 2 was killed by SIGKILL" job.err || { cat job.err; fail "no line naming rank 1"; }
[ $ms -lt 20000 ] || fail "the job took $ms ms to stop"
steps=$(cat "$WORK"/job/*/trace.jsonl | wc -l)
[ "$steps" -lt 520 ] || fail "the job completed before the kill ($steps steps)"
echo "launcher: rank 1 killed at step ~$steps, job exited $code after $ms ms"
"$ML_TRAIN" train "${args[@]}" runtime.nproc=2 runtime.output_dir="$WORK/job" >again.txt 2>&1 \
  || { cat again.txt; fail "the rerun failed"; }
grep -q "resuming from checkpoint" again.txt || { cat again.txt; fail "the rerun did not resume"; }
h=$(awk '/^state_hash/ {print $2}' again.txt)
[ "$h" = "$ref" ] || fail "resumed job $h, uninterrupted run $ref"
echo "resumed: $h = uninterrupted"

# torchrun's environment, no launcher: either rank's death ends the other.
for victim_rank in 1 0; do
  port=$(free_port)
  out="$WORK/tr$victim_rank"
  declare -A pid=()
  for r in 0 1; do
    env RANK=$r LOCAL_RANK=$r WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 \
      MASTER_PORT=$port "$ML_TRAIN" train "${args[@]}" runtime.output_dir="$out" \
      >"tr$r.txt" 2>"tr$r.err" &
    pid[$r]=$!
  done
  wait_steps "$out" 30
  kill -9 "${pid[$victim_rank]}"
  t0=$(date +%s%N)
  other=$((1 - victim_rank))
  set +e
  wait "${pid[$other]}"
  code=$?
  wait "${pid[$victim_rank]}" 2>/dev/null
  set -e
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ $code -ne 0 ] || fail "rank $other exited 0 after rank $victim_rank was killed"
  [ $ms -lt 25000 ] || fail "rank $other took $ms ms (timeout 20 s)"
  [ "$(grep -c "^ml-train: error: " "tr$other.err")" = 1 ] || { cat "tr$other.err"; fail "rank $other: not one error line"; }
  echo "torchrun env: rank $victim_rank killed, rank $other exited $code after $ms ms: $(cat "tr$other.err")"
done
# A peer that hangs (SIGSTOP) instead of dying: the other rank fails after
# runtime.dist_timeout, not later, with one line.
port=$(free_port)
for r in 0 1; do
  env RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$ML_TRAIN" train "${args[@]}" \
    runtime.dist_timeout=3 runtime.output_dir="$WORK/hang" >"h$r.txt" 2>"h$r.err" &
  pid[$r]=$!
done
wait_steps "$WORK/hang" 30
kill -STOP "${pid[1]}"
t0=$(date +%s%N)
set +e
wait "${pid[0]}"
code=$?
set -e
ms=$((($(date +%s%N) - t0) / 1000000))
kill -9 "${pid[1]}"
wait "${pid[1]}" 2>/dev/null || true
[ $code = 1 ] || { cat h0.err; fail "rank 0 with a hung peer: exit $code"; }
[ $ms -ge 2500 ] && [ $ms -lt 15000 ] || fail "rank 0 with a hung peer took $ms ms (timeout 3 s)"
grep -q "timeout 3 s" h0.err || { cat h0.err; fail "the error does not say the timeout"; }
echo "hung peer: rank 0 exited $code after $ms ms"
echo "rank kill ok"
