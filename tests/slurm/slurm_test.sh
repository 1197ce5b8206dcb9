#!/usr/bin/env bash
# ml-train on a real one-node Slurm (Debian's slurm-wlm and munge), started
# here as root with a slurm.conf of our own (SLURM_CONF; /etc/slurm is not
# touched), then stopped:
# - `sweep --launcher slurm` submits a 2-point job array; both tasks complete
#   and give the state hashes of the same points trained locally;
# - `srun -N1 -n2 ml-train train ...` (2 ranks from Slurm's variables) gives
#   the state hash of the local launcher and of one process.
# Run by `make test-slurm` (not part of `make test`: it needs root and
# starts daemons).
source "$(dirname "$0")/../e2e/lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root (starts munged, slurmctld and slurmd)"
for p in munged slurmctld slurmd sbatch srun squeue sinfo; do
  command -v $p >/dev/null || fail "$p not found (scripts/setup installs slurm-wlm and munge)"
done
write_small_config
chmod 755 "$WORK"

host=$(hostname -s)
state="$WORK/slurm"
mkdir -p "$state"/{ctld,d,log}
export SLURM_CONF="$WORK/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=mltrain-test
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$((6817 + RANDOM % 1000))
SlurmdPort=$((7817 + RANDOM % 1000))
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
NodeName=$host CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF

munged_started=0
stop_all() {
  for f in "$state/slurmd.pid" "$state/slurmctld.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  if [ $munged_started = 1 ] && [ -f /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
  fi
  sleep 1
  rm -rf "$WORK"
}
trap stop_all EXIT

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  runuser -u munge -- munged
  munged_started=1
  sleep 1
fi
munge -n | unmunge | grep -q Success || fail "munge does not work"
slurmctld
slurmd
for i in $(seq 1 60); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 1
done
sinfo -h -o %T | grep -qx idle || { sinfo; tail "$state"/log/*; fail "the node did not come up idle"; }
echo "slurm: node $host idle"

# 1. A 2-point sweep as a job array, then aggregated; locally trained points agree.
ML="$(readlink -f "$ML_TRAIN")"
grid=(--grid training.lr=0.01,0.02)
"$ML" sweep -c small.yaml "${grid[@]}" --launcher slurm >sub.txt 2>&1 || { cat sub.txt; fail "submission"; }
cat sub.txt
job=$(sed -n 's/.*submitted job \([0-9]*\).*/\1/p' sub.txt)
[ -n "$job" ] || fail "no job id"
for i in $(seq 1 300); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] || { squeue; fail "job $job did not finish in 300 s"; }
"$ML" sweep -c small.yaml "${grid[@]}" --json >agg.json 2>agg.err || { cat agg.err; cat "$WORK"/runs/sweeps/*/task-*.log; fail "aggregation: not every point completed"; }
"$ML" sweep -c small.yaml "${grid[@]}" runtime.output_dir="$WORK/local" --json >local.json 2>&1 \
  || fail "local sweep"
"$PYTHON" - agg.json local.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ha = [r["state_hash"] for r in a["runs"]]
hb = [r["state_hash"] for r in b["runs"]]
assert len(ha) == 2 and all(ha), ha
assert ha == hb, (ha, hb)
print("slurm array sweep: 2 tasks completed, state hashes", ha, "= local")
PY
ls "$WORK"/runs/sweeps/*/task-0.log "$WORK"/runs/sweeps/*/task-1.log >/dev/null || fail "no per-task logs"

# 2. srun -n 2: two ranks from Slurm's variables.
srun -N1 -n2 "$ML" train -c small.yaml model.arch=cnn training.grad_shards=2 \
  runtime.output_dir="$WORK/srun" >srun.txt 2>srun.err || { cat srun.txt srun.err; fail "srun -n 2"; }
"$ML" train -c small.yaml model.arch=cnn training.grad_shards=2 runtime.nproc=2 \
  runtime.output_dir="$WORK/launcher" >launcher.txt 2>&1 || fail "local launcher"
"$ML" train -c small.yaml model.arch=cnn training.grad_shards=2 \
  runtime.output_dir="$WORK/one" >one.txt 2>&1 || fail "one process"
hs=$(awk '/^state_hash/ {print $2}' srun.txt)
hl=$(awk '/^state_hash/ {print $2}' launcher.txt)
h1=$(awk '/^state_hash/ {print $2}' one.txt)
grep -q "2 ranks (slurm" srun.txt || { cat srun.txt; fail "srun's ranks did not come from Slurm's variables"; }
[ -n "$hs" ] && [ "$hs" = "$hl" ] && [ "$hs" = "$h1" ] || fail "srun $hs, launcher $hl, one process $h1"
echo "srun -N1 -n2: state_hash $hs = local launcher = one process"
echo "slurm ok"
