#!/usr/bin/env bash
# A one-node SLURM cluster for tests/test_slurm.py (root, no systemd): partitions cpu (default)
# and gpu on one node with one fake GPU. Usage: up.sh DIR. DIR holds the cluster's state, logs
# and the PIDs of the daemons started here, which down.sh DIR stops.
# Exit 3: this machine has a SLURM configuration or slurmctld that is not ours; nothing touched.
set -euo pipefail
S=$(realpath "$1")
MARK="# txai test cluster: written by tests/slurm/up.sh, removed by tests/slurm/down.sh"
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
  if [ -e "$f" ] && ! grep -qxF "$MARK" "$f"; then
    echo "$f was not written by tests/slurm/up.sh: leaving this machine's SLURM alone" >&2
    exit 3
  fi
done
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
  echo "a slurmctld or slurmd is already running: leaving it alone" >&2
  exit 3
fi
mkdir -p "$S"/{ctld,spool,log} /run/munge
chown munge:munge /run/munge
CPUS=$(nproc)
MEM=$(( $(free -m | awk '/Mem:/{print $2}') * 3 / 4 ))
# PriorityTier: CPU jobs do not queue behind GPU jobs waiting for the one GPU of the node both
# partitions share (otherwise the scheduler keeps the node for the GPU jobs).
# MinJobAge: finished jobs stay visible to squeue (the status command without slurmdbd) and to
# `scontrol show job`, which the test reads for each job's partition, GPUs and array task.
cat > /etc/slurm/slurm.conf <<CONF
$MARK
ClusterName=txai-test
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pidfile
SlurmdPidFile=$S/slurmd.pidfile
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:fake:1 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES PriorityTier=2 MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
CONF
# The fake GPU: any character device will do, as no cgroup constrains devices (task/none).
printf '%s\nNodeName=localhost Name=gpu Type=fake File=/dev/null\n' "$MARK" > /etc/slurm/gres.conf
# until_up SECONDS PID COMMAND...: wait for COMMAND to succeed while the daemon PID is alive.
until_up() {
  local deadline=$((SECONDS + $1)) pid=$2
  shift 2
  until timeout 5 "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "SLURM test cluster did not start ($*); logs in $S/log" >&2
      tail -n 5 "$S"/log/*.out >&2
      exit 1
    fi
    sleep 0.1
  done
}
if ! munge -n >/dev/null 2>&1; then  # a munged already serving the socket is used, not restarted
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground \
    >"$S/log/munged.out" 2>&1 &
  echo $! > "$S/munged.pid"
  until_up 10 "$(cat "$S/munged.pid")" munge -n
fi
/usr/sbin/slurmctld -D -i >"$S/log/slurmctld.out" 2>&1 &
echo $! > "$S/slurmctld.pid"
until_up 20 "$(cat "$S/slurmctld.pid")" sh -c 'scontrol ping | grep -q UP'
/usr/sbin/slurmd -D -N localhost >"$S/log/slurmd.out" 2>&1 &
echo $! > "$S/slurmd.pid"
until_up 20 "$(cat "$S/slurmd.pid")" sh -c 'sinfo -h -o %t | grep -q idle'
sinfo -o "%P %a %D %t %c %m %G"
